#pragma once
// Concrete executor types for connections (src/http and the WebSocket adapter). Beast's
// tcp_stream and Asio's default socket use the type-erased any_io_executor, whose copies and `prefer`
// calls showed up at several percent of the proxy's CPU; naming the strand type removes
// that indirection on every operation.

#include <chrono>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/basic_stream.hpp>

namespace nilecare::http {

using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;
using StrandSocket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, Strand>;
using StrandStream = boost::beast::basic_stream<boost::asio::ip::tcp, Strand>;
using StrandTimer = boost::asio::basic_waitable_timer<
    std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>, Strand>;
using StrandResolver = boost::asio::ip::basic_resolver<boost::asio::ip::tcp, Strand>;

}  // namespace nilecare::http
