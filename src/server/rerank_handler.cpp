#include "server/rerank_handler.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "common/error.h"
#include "common/http_headers.h"
#include "server/error_response.h"
#include "server/request_id.h"

namespace rerankd::server {

// Status for an answer nobody will read: nginx's "client closed request", so that logs and
// requests_total tell disconnects apart from the 503s of draining.
constexpr unsigned kClientClosedRequest = 499;

struct RerankHandler::Call {
  explicit Call(std::shared_ptr<Exchange> e) : exchange(std::move(e)), timer(exchange->executor()) {}

  std::shared_ptr<Exchange> exchange;
  RerankRequest request;
  asio::steady_timer timer;  // on the connection's strand, like every other use of this struct
  Scheduler::Ticket ticket;
  bool done = false;
  bool client_gone = false;
};

RerankHandler::RerankHandler(Scheduler& scheduler, ServerMetrics& metrics, const ServerOptions& options,
                             std::string model_name)
    : scheduler_(scheduler), metrics_(metrics), options_(options), model_name_(std::move(model_name)) {}

void RerankHandler::handle(const std::shared_ptr<Exchange>& exchange, RequestParser parse) {
  try {
    run(exchange, parse(exchange->request().body(), options_.max_client_batch_size));
  } catch (const Error& e) {
    respond_error(*exchange, e);
  }
}

Clock::time_point RerankHandler::deadline(const Exchange& exchange) const {
  double seconds = options_.request_timeout_seconds;
  const auto header = exchange.request()[kRequestTimeoutHeader];
  if (!header.empty()) {
    const char* end = header.data() + header.size();
    const auto [ptr, ec] = std::from_chars(header.data(), end, seconds);
    if (ec != std::errc() || ptr != end || !std::isfinite(seconds) || seconds <= 0) {
      throw Error(Error::Kind::kInvalidInput,
                  "X-Request-Timeout must be a positive number of seconds, not '" + std::string(header) + "'");
    }
  }
  // No cap on what a client may ask for; the bound only keeps the time_point arithmetic finite.
  constexpr double kForever = 1e9;
  if (seconds >= kForever) return Clock::time_point::max();
  return exchange.received() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

void RerankHandler::run(const std::shared_ptr<Exchange>& exchange, RerankRequest request) {
  const Clock::time_point deadline_at = deadline(*exchange);
  auto call = std::make_shared<Call>(exchange);
  call->request = std::move(request);
  RerankInput& input = call->request.input;
  input.deadline = deadline_at;
  if (call->request.return_text) call->request.texts = input.documents;
  exchange->stats().pairs = input.documents.size();
  metrics_.pairs_received(input.documents.size());

  try {
    // Runs on a scheduler thread: hop to the connection's strand and return at once. The
    // Call it captures is released once the scheduler drops the request.
    call->ticket = scheduler_.submit(std::move(input), [this, call, executor = exchange->executor()](RerankResult result) {
      asio::post(executor,
                 [this, call, result = std::move(result)]() mutable { finish(*call, std::move(result)); });
    });
  } catch (const Error& e) {
    call->done = true;
    respond_error(*exchange, e);
    return;
  }

  if (deadline_at != Clock::time_point::max()) {
    call->timer.expires_at(deadline_at);
    call->timer.async_wait([this, call](const boost::system::error_code& ec) {
      if (ec || call->done) return;
      scheduler_.cancel(call->ticket, Error(Error::Kind::kTimeout, "the request's deadline passed before it was answered"));
    });
  }
  exchange->on_client_gone([this, weak = std::weak_ptr<Call>(call)] {
    const auto pending = weak.lock();
    if (!pending || pending->done) return;
    pending->client_gone = true;
    metrics_.client_disconnected();
    scheduler_.cancel(pending->ticket, Error(Error::Kind::kUnavailable, "client disconnected"));
  });
}

void RerankHandler::finish(Call& call, RerankResult result) {
  if (call.done) return;
  call.done = true;
  call.timer.cancel();
  call.ticket.reset();  // the ticket holds the callback that holds this Call
  // The scheduler may keep its copy of the callback (and with it this Call) for a while after
  // completing; what the Call owns must not keep the connection or the texts alive meanwhile.
  const std::shared_ptr<Exchange> exchange = std::move(call.exchange);
  const RerankRequest request = std::move(call.request);
  if (const Error* error = std::get_if<Error>(&result)) {
    if (call.client_gone) {
      HttpResponse response = error_response(*error);
      response.result(kClientClosedRequest);
      exchange->respond(std::move(response));
    } else {
      respond_error(*exchange, *error);
    }
    return;
  }
  const RerankOutput& output = std::get<RerankOutput>(result);
  RequestStats& stats = exchange->stats();
  stats.tokens = output.total_tokens;
  stats.queue_seconds = output.queue_seconds;
  stats.inference_seconds = output.inference_seconds;
  try {
    const std::string id = request.shape == ApiShape::kCohere ? new_request_id() : std::string();
    exchange->respond(
        json_response(http::status::ok, rerank_response_body(request, output.logits, output.total_tokens, id, model_name_,
                                                                 output.chunks)));
  } catch (const std::exception& e) {
    respond_error(*exchange, Error(Error::Kind::kInternal, e.what()));
  }
}

void RerankHandler::respond_error(Exchange& exchange, const Error& error) {
  HttpResponse response = error_response(error);
  if (error.kind() == Error::Kind::kOverloaded) {
    // When the admission check says a retry could make it; else when the queue will have run.
    const double when = error.retry_after_seconds();
    const int seconds = when > 0 ? static_cast<int>(std::clamp(std::ceil(when), 1.0, 3600.0))
                                 : scheduler_.retry_after_seconds();
    response.set(http::field::retry_after, std::to_string(seconds));
  }
  exchange.respond(std::move(response));
}

}  // namespace rerankd::server
