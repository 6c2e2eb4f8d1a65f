#include "nilecare/mqtt/device_records.hpp"

#include <gtest/gtest.h>

namespace nilecare::mqtt {
namespace {

TEST(TimestampTest, FormatsMillisecondsOrMicroseconds) {
  const TimePoint base = *ParseTimestamp("2026-12-04T21:00:00Z");
  EXPECT_EQ(FormatTimestamp(base), "2026-12-04T21:00:00.000Z");
  EXPECT_EQ(FormatTimestamp(base + std::chrono::milliseconds(7)), "2026-12-04T21:00:00.007Z");
  EXPECT_EQ(FormatTimestamp(base + std::chrono::microseconds(7)), "2026-12-04T21:00:00.000007Z");
  EXPECT_EQ(FormatTimestamp(TimePoint{}), "1970-01-01T00:00:00.000Z");
}

TEST(TimestampTest, ParsesZonesAndFractions) {
  EXPECT_EQ(ParseTimestamp("2026-12-04T23:00:00+02:00"), ParseTimestamp("2026-12-04T21:00:00Z"));
  EXPECT_EQ(ParseTimestamp("2026-12-04T18:30:00-02:30"), ParseTimestamp("2026-12-04T21:00:00Z"));
  EXPECT_EQ(FormatTimestamp(*ParseTimestamp("2026-12-04T21:00:00.123456789Z")),
            "2026-12-04T21:00:00.123456Z");
  EXPECT_EQ(FormatTimestamp(*ParseTimestamp("2024-02-29T00:00:00.1z")), "2024-02-29T00:00:00.100Z");
  for (const char* bad : {"", "2026-12-04", "2026-12-04T21:00:00", "2026-13-04T21:00:00Z",
                          "2026-12-04T24:00:00Z", "2026-12-04T21:00:00.Z", "2026-12-04T21:00:00Zjunk",
                          "2026-12-04T21:00:00+0200", "2026-12-04T21:00:00.1234567890Z",
                          "x026-12-04T21:00:00Z"}) {
    EXPECT_FALSE(ParseTimestamp(bad)) << bad;
  }
}

TEST(DeviceRecordJsonTest, EveryKindRoundTrips) {
  const TimePoint at = *ParseTimestamp("2026-12-04T21:00:00.000123Z");
  VitalsReading reading{"mon-1", "P-1", 72, 98, 36.6, BloodPressure{120, 80}, at, true, 9, at};
  DeviceStatus status{"mon-1", "offline", at};
  DeviceAlert alert{"id-1", "mon-1", "P-1", "LEAD_OFF", "warning", 1.5, "lead off", at};
  Rejection rejection{"id-2", "mon-1", "vitals", "not_json", std::string("a\0\xff", 3), 3, at};
  for (const DeviceRecord& record : std::vector<DeviceRecord>{reading, status, alert, rejection}) {
    const auto back = FromJson(ToJson(record));
    ASSERT_TRUE(back);
    EXPECT_EQ(ToJson(*back), ToJson(record));
    EXPECT_EQ(back->index(), record.index());
  }
  const auto back = std::get<Rejection>(*FromJson(ToJson(rejection)));
  EXPECT_EQ(back.payload, std::string("a\0\xff", 3));
  const auto vitals = std::get<VitalsReading>(*FromJson(ToJson(reading)));
  EXPECT_EQ(vitals.bp->diastolic, 80);
  EXPECT_EQ(vitals.seq, 9);
  EXPECT_EQ(vitals.measured_at, at);
}

TEST(DeviceRecordJsonTest, RefusesWhatItDidNotWrite) {
  EXPECT_FALSE(FromJson(nlohmann::json::array()));
  EXPECT_FALSE(FromJson({{"k", "v"}}));
  EXPECT_FALSE(FromJson({{"k", "z"}, {"d", "x"}}));
  EXPECT_FALSE(FromJson({{"k", "v"}, {"d", "x"}, {"hr", "fast"}}));
}

}  // namespace
}  // namespace nilecare::mqtt
