#include "server/routes.h"

#include "server/error_response.h"

namespace rerankd::server {

void Router::add(http::verb method, std::string path, RouteHandler handler, Access access) {
  for (Route& r : routes_) {
    if (r.path == path) {
      r.methods.emplace_back(method, std::move(handler));
      r.access = access;
      return;
    }
  }
  routes_.push_back({std::move(path), {{method, std::move(handler)}}, access});
}

bool Router::needs_key(std::string_view path) const {
  const Route* r = find(path);
  return r == nullptr || r->access == Access::kKeyRequired;
}

const Router::Route* Router::find(std::string_view path) const {
  for (const Route& r : routes_) {
    if (r.path == path) return &r;
  }
  return nullptr;
}

std::string_view Router::label(std::string_view path) const {
  const Route* r = find(path);
  return r != nullptr ? std::string_view(r->path) : std::string_view("other");
}

std::vector<std::string> Router::labels() const {
  std::vector<std::string> out;
  for (const Route& r : routes_) out.push_back(r.path);
  out.emplace_back("other");
  return out;
}

void Router::dispatch(const std::shared_ptr<Exchange>& exchange) const {
  const std::string_view path = exchange->path();
  const Route* route = find(path);
  const http::verb method = exchange->request().method();
  if (route == nullptr) {
    exchange->respond(error_response(Error(Error::Kind::kNotFound, "no route for " +
                                                                       std::string(exchange->request().method_string()) +
                                                                       " " + std::string(path))));
    return;
  }
  std::string allow;
  for (const auto& [verb, handler] : route->methods) {
    if (verb == method) {
      handler(exchange);
      return;
    }
    if (!allow.empty()) allow += ", ";
    allow += std::string(http::to_string(verb));
  }
  HttpResponse response = error_response(Error(Error::Kind::kMethodNotAllowed,
                                               std::string(exchange->request().method_string()) +
                                                   " is not allowed on " + route->path + "; use " + allow));
  response.set(http::field::allow, allow);
  exchange->respond(std::move(response));
}

}  // namespace rerankd::server
