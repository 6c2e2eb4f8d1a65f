#include "hiredis_asio_adapter.hpp"

#include <hiredis/async.h>

#include <boost/asio/error.hpp>

namespace nilecare::storage {

std::shared_ptr<HiredisAsioAdapter> HiredisAsioAdapter::Attach(Executor executor,
                                                               redisAsyncContext* context,
                                                               Guard guard) {
  std::shared_ptr<HiredisAsioAdapter> adapter(
      new HiredisAsioAdapter(std::move(executor), context, std::move(guard)));
  // hiredis holds a raw pointer to the adapter until Cleanup; the owner keeps the adapter
  // alive at least that long (and pending waits keep it alive after).
  context->ev.data = adapter.get();
  context->ev.addRead = &HiredisAsioAdapter::AddRead;
  context->ev.delRead = &HiredisAsioAdapter::DelRead;
  context->ev.addWrite = &HiredisAsioAdapter::AddWrite;
  context->ev.delWrite = &HiredisAsioAdapter::DelWrite;
  context->ev.cleanup = &HiredisAsioAdapter::Cleanup;
  // The non-blocking connect completes with the socket turning writable; hiredis only
  // notices it on a read or write event, so ask for one even before any command is queued.
  adapter->Want(Direction::kWrite, true);
  adapter->Want(Direction::kRead, true);
  return adapter;
}

HiredisAsioAdapter::HiredisAsioAdapter(Executor executor, redisAsyncContext* context, Guard guard)
    : descriptor_(std::move(executor), context->c.fd),
      context_(context),
      guard_(std::move(guard)) {}

HiredisAsioAdapter::~HiredisAsioAdapter() {
  // Normally released in Cleanup already; if not, the descriptor's destructor must still
  // not close hiredis's socket.
  if (descriptor_.is_open()) descriptor_.release();
}

void HiredisAsioAdapter::AddRead(void* self) {
  static_cast<HiredisAsioAdapter*>(self)->Want(Direction::kRead, true);
}
void HiredisAsioAdapter::DelRead(void* self) {
  static_cast<HiredisAsioAdapter*>(self)->Want(Direction::kRead, false);
}
void HiredisAsioAdapter::AddWrite(void* self) {
  static_cast<HiredisAsioAdapter*>(self)->Want(Direction::kWrite, true);
}
void HiredisAsioAdapter::DelWrite(void* self) {
  static_cast<HiredisAsioAdapter*>(self)->Want(Direction::kWrite, false);
}

void HiredisAsioAdapter::Cleanup(void* self) {
  auto* adapter = static_cast<HiredisAsioAdapter*>(self);
  adapter->context_ = nullptr;
  adapter->want_read_ = adapter->want_write_ = false;
  // hiredis closes the socket right after this hook returns.
  if (adapter->descriptor_.is_open()) adapter->descriptor_.release();
}

void HiredisAsioAdapter::Want(Direction direction, bool want) {
  (direction == Direction::kRead ? want_read_ : want_write_) = want;
  if (want) Arm(direction);
}

void HiredisAsioAdapter::Arm(Direction direction) {
  bool& armed = direction == Direction::kRead ? read_armed_ : write_armed_;
  if (armed || context_ == nullptr) return;
  armed = true;
  // Each wait is one-shot: it is re-armed after every event for as long as hiredis wants
  // it. (Asio re-checks readiness when a wait is started, so nothing already buffered in
  // the socket is missed between two waits.)
  descriptor_.async_wait(
      direction == Direction::kRead ? boost::asio::posix::stream_descriptor::wait_read
                                    : boost::asio::posix::stream_descriptor::wait_write,
      [self = shared_from_this(), direction](const boost::system::error_code& error) {
        self->guard_([&] { self->OnReady(direction, error); });
      });
}

void HiredisAsioAdapter::OnReady(Direction direction, const boost::system::error_code& error) {
  (direction == Direction::kRead ? read_armed_ : write_armed_) = false;
  if (context_ == nullptr || error == boost::asio::error::operation_aborted) return;
  // Other wait errors are left for hiredis to find (and report) when it reads or writes.
  if (direction == Direction::kRead) {
    if (!want_read_) return;
    redisAsyncHandleRead(context_);
  } else {
    if (!want_write_) return;
    redisAsyncHandleWrite(context_);
  }
  // hiredis may have freed the context inside the call (Cleanup cleared context_).
  if (want_read_) Arm(Direction::kRead);
  if (want_write_) Arm(Direction::kWrite);
}

}  // namespace nilecare::storage
