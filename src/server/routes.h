#pragma once
// Dispatch by exact path, then method: an unknown path is 404, a known path with the wrong
// method is 405 with an Allow header naming the right ones.
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/http_server.h"

namespace rerankd::server {

using RouteHandler = std::function<void(const std::shared_ptr<Exchange>&)>;

class Router {
 public:
  // Whether a route needs the API key (when keys are configured): every route but /health, which
  // load balancers probe without one, and the page at /, which asks a person for one.
  enum class Access { kKeyRequired, kOpen };

  void add(http::verb method, std::string path, RouteHandler handler, Access access = Access::kKeyRequired);

  // Runs the exchange's handler, or answers 404/405.
  void dispatch(const std::shared_ptr<Exchange>& exchange) const;

  // False only for a path added kOpen; unknown paths need the key too, so that a caller without
  // one learns nothing about which exist.
  bool needs_key(std::string_view path) const;

  // The metrics label of a path: the route's own path, or "other" for any unknown target, so
  // that scanners cannot mint label values. A view of the router's own string.
  std::string_view label(std::string_view path) const;

  // Every label label() can return: each route's path, and "other".
  std::vector<std::string> labels() const;

 private:
  struct Route {
    std::string path;
    std::vector<std::pair<http::verb, RouteHandler>> methods;
    Access access = Access::kKeyRequired;
  };
  const Route* find(std::string_view path) const;

  std::vector<Route> routes_;
};

}  // namespace rerankd::server
