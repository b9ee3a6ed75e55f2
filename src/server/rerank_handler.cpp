#include "server/rerank_handler.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "common/error.h"
#include "common/error_class.h"
#include "common/http_headers.h"
#include "server/error_response.h"
#include "server/request_id.h"

namespace rerankd::server {

// Status for an answer nobody will read: nginx's "client closed request", so that logs and
// requests_total tell disconnects apart from the 503s of draining.
constexpr unsigned kClientClosedRequest = 499;

namespace {

// Server-Timing (W3C): where the request's time went, in milliseconds, for browsers' developer
// tools and the page at /. queue: admission to the first pass that ran one of its pairs;
// inference: the passes that carried its pairs; total: receipt to this answer.
std::string server_timing(const RerankOutput& output, SteadyClock::duration total) {
  const auto ms = [](double seconds) {
    char text[32];
    std::snprintf(text, sizeof text, "%.3f", seconds * 1e3);
    return std::string(text);
  };
  return "queue;dur=" + ms(output.queue_seconds) + ", inference;dur=" + ms(output.inference_seconds) +
         ", total;dur=" + ms(std::chrono::duration<double>(total).count());
}

}  // namespace

struct RerankHandler::Call {
  explicit Call(std::shared_ptr<Exchange> e) : exchange(std::move(e)), timer(exchange->executor()) {}

  std::shared_ptr<Exchange> exchange;
  RerankRequest request;
  ServedModel* model = nullptr;
  asio::steady_timer timer;  // on the connection's strand, like every other use of this struct
  Scheduler::Ticket ticket;
  bool done = false;
  bool client_gone = false;
};

RerankHandler::RerankHandler(ServedModels& models, ServerMetrics& metrics, const ServerOptions& options,
                             const ClientIdentities& identities, RateLimiter& rate_limiter)
    : models_(models), metrics_(metrics), options_(options), identities_(identities), rate_limiter_(rate_limiter) {}

std::optional<HttpResponse> RerankHandler::screen(const HttpRequest& header, std::string_view tenant) {
  if (models_.all().size() != 1) return std::nullopt;
  Scheduler& scheduler = *models_.first().scheduler;
  // Content-Length, where the client declared one (a chunked body: nothing known yet).
  size_t body_bytes = 0;
  const std::string_view length = header[http::field::content_length];
  std::from_chars(length.data(), length.data() + length.size(), body_bytes);
  try {
    scheduler.screen(tenant, body_bytes, deadline(header, SteadyClock::now()));
  } catch (const Error& e) {
    return error_answer(e, &scheduler);
  }
  return std::nullopt;
}

void RerankHandler::handle(const std::shared_ptr<Exchange>& exchange, RequestParser parse) {
  try {
    run(exchange, parse(exchange->request().body(), options_.max_client_batch_size));
  } catch (const Error& e) {
    exchange->respond(error_answer(e, nullptr));
  }
}

Clock::time_point RerankHandler::deadline(const HttpRequest& request, SteadyClock::time_point received) const {
  double seconds = options_.request_timeout_seconds;
  const auto header = request[kRequestTimeoutHeader];
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
  return received + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

void RerankHandler::run(const std::shared_ptr<Exchange>& exchange, RerankRequest request) {
  const Clock::time_point deadline_at = deadline(exchange->request(), exchange->received());
  ServedModel& model = models_.pick(request.model);
  Scheduler& scheduler = *model.scheduler;
  auto call = std::make_shared<Call>(exchange);
  call->model = &model;
  call->request = std::move(request);
  RerankInput& input = call->request.input;
  input.deadline = deadline_at;
  if (call->request.return_text) call->request.texts = input.documents;
  exchange->stats().model = model.name;
  exchange->stats().pairs = input.documents.size();
  metrics_.pairs_received(input.documents.size());
  // The identity screen() let in (resolved again: a key comparison): the model's time is shared
  // between identities, and each has its own pairs/s.
  if (const std::optional<ClientIdentity> who = identities_.of(*exchange)) {
    rate_limiter_.admit_pairs(*who, input.documents.size(), SteadyClock::now());
    input.tenant = who->str();
  }

  try {
    // Runs on a scheduler thread: hop to the connection's strand and return at once. The
    // Call it captures is released once the scheduler drops the request.
    call->ticket = scheduler.submit(std::move(input), [this, call, executor = exchange->executor()](RerankResult result) {
      asio::post(executor,
                 [this, call, result = std::move(result)]() mutable { finish(*call, std::move(result)); });
    });
  } catch (const Error& e) {
    call->done = true;
    exchange->respond(error_answer(e, &scheduler));
    return;
  }

  if (deadline_at != Clock::time_point::max()) {
    call->timer.expires_at(deadline_at);
    call->timer.async_wait([call](const boost::system::error_code& ec) {
      if (ec || call->done) return;
      call->model->scheduler->cancel(call->ticket, Error(Error::Kind::kTimeout, "the request's deadline passed before it was answered"));
    });
  }
  exchange->on_client_gone([this, weak = std::weak_ptr<Call>(call)] {
    const auto pending = weak.lock();
    if (!pending || pending->done) return;
    pending->client_gone = true;
    metrics_.client_disconnected();
    pending->model->scheduler->cancel(pending->ticket, Error(Error::Kind::kUnavailable, "client disconnected"));
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
      exchange->respond(error_answer(*error, call.model->scheduler.get()));
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
    HttpResponse response = json_response(http::status::ok, rerank_response_body(request, output, id, call.model->name));
    response.set("Server-Timing", server_timing(output, SteadyClock::now() - exchange->received()));
    exchange->respond(std::move(response));
  } catch (const std::exception& e) {
    exchange->respond(error_answer(Error(Error::Kind::kInternal, e.what()), nullptr));
  }
}

// `scheduler`: the one the request went to, if it got that far.
HttpResponse RerankHandler::error_answer(const Error& error, const Scheduler* scheduler) {
  // Retry-After: when the admission check says a retry could make it; else when the model's queue
  // will have run down.
  if (scheduler != nullptr && error_class(error.kind()).retry_after && error.retry_after_seconds() <= 0) {
    return error_response(Error(error.kind(), error.what(), scheduler->retry_after_seconds()));
  }
  return error_response(error);
}

}  // namespace rerankd::server
