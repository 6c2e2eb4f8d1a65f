#pragma once
// Drives one hiredis 0.14 async context from Asio (hiredis ships no Asio adapter): the
// context's read/write interest hooks become async_wait calls on a stream_descriptor over
// hiredis's socket. Private to src/storage.
//
// hiredis owns the socket: Cleanup (run by hiredis while it frees the context) releases the
// descriptor instead of closing it, which also aborts the waits still pending.
//
// Every call into hiredis from a socket event goes through the owner's `Guard`, which keeps
// the owner alive (if it still is: a weak reference, so the adapter never keeps the owner
// alive by itself) and holds the owner's lock, the same lock under which the owner makes
// its own calls into hiredis. All adapter state is touched only under that lock.

#include <functional>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/strand.hpp>

struct redisAsyncContext;

namespace nilecare::storage {

class HiredisAsioAdapter : public std::enable_shared_from_this<HiredisAsioAdapter> {
 public:
  using Executor = boost::asio::strand<boost::asio::io_context::executor_type>;
  // Runs `body` with the owner alive and locked, or not at all if the owner is gone.
  using Guard = std::function<void(const std::function<void()>& body)>;

  // Installs the hooks on `context` (which must have none yet) and starts watching its
  // socket for the connect to complete. Call with the owner's lock held.
  static std::shared_ptr<HiredisAsioAdapter> Attach(Executor executor, redisAsyncContext* context,
                                                    Guard guard);

  HiredisAsioAdapter(const HiredisAsioAdapter&) = delete;
  HiredisAsioAdapter& operator=(const HiredisAsioAdapter&) = delete;
  ~HiredisAsioAdapter();

  // False once hiredis has freed the context.
  bool Attached() const { return context_ != nullptr; }

 private:
  enum class Direction { kRead, kWrite };

  HiredisAsioAdapter(Executor executor, redisAsyncContext* context, Guard guard);

  static void AddRead(void* self);
  static void DelRead(void* self);
  static void AddWrite(void* self);
  static void DelWrite(void* self);
  static void Cleanup(void* self);

  void Want(Direction direction, bool want);
  void Arm(Direction direction);
  void OnReady(Direction direction, const boost::system::error_code& error);

  boost::asio::posix::stream_descriptor descriptor_;
  redisAsyncContext* context_;
  Guard guard_;
  bool want_read_{false};
  bool want_write_{false};
  // A wait cannot be withdrawn singly (cancel() would abort both directions), so interest
  // dropped while a wait is pending is remembered here and the wake-up ignored.
  bool read_armed_{false};
  bool write_armed_{false};
};

}  // namespace nilecare::storage
