#pragma once
// The Asio pieces the client uses, behind one include. Boost 1.74's awaitable.hpp calls
// std::exchange without including <utility>, which GCC 12's headers no longer pull in for it:
// <utility> must come first.
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace rerankd::client {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

}  // namespace rerankd::client
