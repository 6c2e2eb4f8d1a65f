// Device messages come from anything that can reach the MQTT broker. The first byte picks
// the topic kind, the rest is the payload: every parser must return a record or a reason,
// never crash, and whatever it accepts must survive the journal encoding unchanged.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "nilecare/mqtt/device_message.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  using namespace nilecare::mqtt;
  const std::string_view payload(reinterpret_cast<const char*>(data + 1), size - 1);
  const TimePoint now = *ParseTimestamp("2026-12-04T21:00:00Z");
  const MessageLimits limits{};
  auto check = [](const auto& result) {
    if (std::holds_alternative<RejectReason>(result)) {
      if (std::get<RejectReason>(result).empty()) __builtin_trap();
      return;
    }
    const DeviceRecord record = std::get<0>(result);
    const auto back = FromJson(ToJson(record));
    if (!back || ToJson(*back) != ToJson(record)) __builtin_trap();
  };
  switch (data[0] % 4) {
    case 0: {
      const auto result = ParseVitals("fuzz-1", payload, now, limits);
      check(result);
      if (const auto* reading = std::get_if<VitalsReading>(&result)) (void)VitalsEvent(*reading).dump();
      break;
    }
    case 1: check(ParseAlert("fuzz-1", payload, now, limits)); break;
    case 2: check(ParseStatus("fuzz-1", payload, now, limits)); break;
    default: {
      (void)ParseDeviceTopic(payload, "devices");
      (void)ParseTimestamp(payload);
      break;
    }
  }
  return 0;
}
