#include "amqp/amqp_connection.hpp"

#include <amqp.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nilecare::amqp {
namespace {

using Int = std::optional<std::int64_t>;
using Text = std::optional<std::string>;

amqp_field_value_t Utf8(std::string& text) {
  amqp_field_value_t value{};
  value.kind = AMQP_FIELD_KIND_UTF8;
  value.value.bytes = Bytes(text);
  return value;
}

amqp_table_entry_t Entry(std::string& key, amqp_field_value_t value) {
  return {Bytes(key), value};
}

const amqp_table_entry_t* FindEntry(const amqp_table_t& table, std::string_view key) {
  for (int i = 0; i < table.num_entries; ++i) {
    if (View(table.entries[i].key) == key) return &table.entries[i];
  }
  return nullptr;
}

TEST(TableTest, StartsEmpty) {
  Table table;
  EXPECT_TRUE(table.Empty());
  const auto got = table.Get();
  EXPECT_EQ(got.num_entries, 0);
  EXPECT_EQ(got.entries, nullptr);
}

TEST(TableTest, ReadsBackStringAndIntegerValues) {
  Table table;
  table.Set("x-task-source", "api").Set("x-retry-count", std::int64_t{3});
  EXPECT_FALSE(table.Empty());
  const auto got = table.Get();
  ASSERT_EQ(got.num_entries, 2);
  EXPECT_EQ(TableString(got, "x-task-source"), Text("api"));
  EXPECT_EQ(TableInt(got, "x-retry-count"), Int(3));
  const auto* text = FindEntry(got, "x-task-source");
  ASSERT_NE(text, nullptr);
  EXPECT_EQ(text->value.kind, AMQP_FIELD_KIND_UTF8);
  const auto* number = FindEntry(got, "x-retry-count");
  ASSERT_NE(number, nullptr);
  EXPECT_EQ(number->value.kind, AMQP_FIELD_KIND_I64);
}

TEST(TableTest, KeepsItsOwnCopyOfKeysAndValues) {
  std::string key = "x-last-error";
  std::string value = "http_503";
  Table table;
  table.Set(key, value);
  key.assign("y-last-error");
  value.assign("XXXXXXXX");
  const auto got = table.Get();
  EXPECT_EQ(TableString(got, "x-last-error"), Text("http_503"));
}

TEST(TableTest, ReadsBackEmptyStringsAndExtremeIntegers) {
  Table table;
  table.Set("empty", "")
      .Set("min", INT64_MIN)
      .Set("max", INT64_MAX)
      .Set("negative", std::int64_t{-1});
  const auto got = table.Get();
  EXPECT_EQ(TableString(got, "empty"), Text(""));
  EXPECT_EQ(TableInt(got, "min"), Int(INT64_MIN));
  EXPECT_EQ(TableInt(got, "max"), Int(INT64_MAX));
  EXPECT_EQ(TableInt(got, "negative"), Int(-1));
}

TEST(TableTest, SetReplacesAnExistingKey) {
  Table table;
  table.Set("x-error", "timeout").Set("x-retry-count", std::int64_t{1});
  table.Set("x-error", "http_500");
  table.Set("x-retry-count", std::int64_t{2});
  auto got = table.Get();
  ASSERT_EQ(got.num_entries, 2);
  EXPECT_EQ(TableString(got, "x-error"), Text("http_500"));
  EXPECT_EQ(TableInt(got, "x-retry-count"), Int(2));

  table.Set("x-error", std::int64_t{7});
  got = table.Get();
  ASSERT_EQ(got.num_entries, 2);
  EXPECT_EQ(TableInt(got, "x-error"), Int(7));
  EXPECT_EQ(TableString(got, "x-error"), std::nullopt);
}

// What a redelivered task carries: the publisher's headers and RabbitMQ's x-death, an array
// of tables.
class CopyFromTest : public ::testing::Test {
 protected:
  CopyFromTest() {
    death_fields_ = {Entry(count_key_, Long(2)), Entry(queue_key_, Utf8(queue_)),
                     Entry(reason_key_, Utf8(reason_))};
    death_.kind = AMQP_FIELD_KIND_TABLE;
    death_.value.table = {static_cast<int>(death_fields_.size()), death_fields_.data()};
    amqp_field_value_t deaths{};
    deaths.kind = AMQP_FIELD_KIND_ARRAY;
    deaths.value.array = {1, &death_};
    entries_ = {Entry(retry_key_, Int32(2)), Entry(source_key_, Utf8(source_)),
                Entry(death_key_, deaths)};
    source_table_ = {static_cast<int>(entries_.size()), entries_.data()};
  }

  static amqp_field_value_t Long(std::int64_t number) {
    amqp_field_value_t value{};
    value.kind = AMQP_FIELD_KIND_I64;
    value.value.i64 = number;
    return value;
  }
  static amqp_field_value_t Int32(std::int32_t number) {
    amqp_field_value_t value{};
    value.kind = AMQP_FIELD_KIND_I32;
    value.value.i32 = number;
    return value;
  }

  std::string retry_key_ = "x-retry-count";
  std::string source_key_ = "x-task-source";
  std::string source_ = "event";
  std::string death_key_ = "x-death";
  std::string count_key_ = "count";
  std::string queue_key_ = "queue";
  std::string queue_ = "failed.jobs";
  std::string reason_key_ = "reason";
  std::string reason_ = "expired";
  std::vector<amqp_table_entry_t> death_fields_;
  amqp_field_value_t death_{};
  std::vector<amqp_table_entry_t> entries_;
  amqp_table_t source_table_{};
};

TEST_F(CopyFromTest, KeepsEveryEntry) {
  Table table;
  table.CopyFrom(source_table_);
  EXPECT_FALSE(table.Empty());
  const auto got = table.Get();
  ASSERT_EQ(got.num_entries, 3);
  EXPECT_EQ(TableInt(got, "x-retry-count"), Int(2));
  EXPECT_EQ(TableString(got, "x-task-source"), Text("event"));
  const auto* death = FindEntry(got, "x-death");
  ASSERT_NE(death, nullptr);
  ASSERT_EQ(death->value.kind, AMQP_FIELD_KIND_ARRAY);
  ASSERT_EQ(death->value.value.array.num_entries, 1);
  const auto& first = death->value.value.array.entries[0];
  ASSERT_EQ(first.kind, AMQP_FIELD_KIND_TABLE);
  EXPECT_EQ(first.value.table.num_entries, 3);
  EXPECT_EQ(TableInt(first.value.table, "count"), Int(2));
  EXPECT_EQ(TableString(first.value.table, "queue"), Text("failed.jobs"));
  EXPECT_EQ(TableString(first.value.table, "reason"), Text("expired"));
}

// The received envelope is destroyed right after the delivery is read.
TEST_F(CopyFromTest, DoesNotPointIntoTheSource) {
  Table table;
  table.CopyFrom(source_table_);
  source_.assign("XXXXX");
  queue_.assign("XXXXXXXXXXX");
  retry_key_.assign("XXXXXXXXXXXXX");
  entries_[0].value.value.i32 = 99;
  death_fields_[0].value.value.i64 = 99;
  const auto got = table.Get();
  EXPECT_NE(got.entries, entries_.data());
  EXPECT_EQ(TableInt(got, "x-retry-count"), Int(2));
  EXPECT_EQ(TableString(got, "x-task-source"), Text("event"));
  const auto* death = FindEntry(got, "x-death");
  ASSERT_NE(death, nullptr);
  ASSERT_EQ(death->value.value.array.num_entries, 1);
  const auto& first = death->value.value.array.entries[0];
  EXPECT_EQ(TableInt(first.value.table, "count"), Int(2));
  EXPECT_EQ(TableString(first.value.table, "queue"), Text("failed.jobs"));
}

TEST_F(CopyFromTest, ALaterSetOverridesACopiedKey) {
  Table table;
  table.CopyFrom(source_table_);
  table.Set("x-retry-count", std::int64_t{3}).Set("x-last-error", "http_502");
  const auto got = table.Get();
  ASSERT_EQ(got.num_entries, 4);
  EXPECT_EQ(TableInt(got, "x-retry-count"), Int(3));
  EXPECT_EQ(TableString(got, "x-last-error"), Text("http_502"));
  EXPECT_EQ(TableString(got, "x-task-source"), Text("event"));
  ASSERT_NE(FindEntry(got, "x-death"), nullptr);
}

TEST_F(CopyFromTest, ReplacesKeysSetBeforeIt) {
  Table table;
  table.Set("x-task-source", "api").Set("x-original-queue", "email.high");
  table.CopyFrom(source_table_);
  const auto got = table.Get();
  ASSERT_EQ(got.num_entries, 4);
  EXPECT_EQ(TableString(got, "x-task-source"), Text("event"));
  EXPECT_EQ(TableString(got, "x-original-queue"), Text("email.high"));
}

TEST_F(CopyFromTest, CopiesAnotherTablesOutput) {
  Table first;
  first.CopyFrom(source_table_);
  first.Set("x-retry-count", std::int64_t{4});
  Table second;
  second.CopyFrom(first.Get());
  const auto got = second.Get();
  ASSERT_EQ(got.num_entries, 3);
  EXPECT_EQ(TableInt(got, "x-retry-count"), Int(4));
  EXPECT_EQ(TableString(got, "x-task-source"), Text("event"));
}

TEST(TableTest, CopyingAnEmptyTableAddsNothing) {
  Table table;
  table.CopyFrom(amqp_empty_table);
  EXPECT_TRUE(table.Empty());
  EXPECT_EQ(table.Get().num_entries, 0);
}

struct KindCase {
  std::string key;
  amqp_field_value_t value;
};

std::vector<KindCase> IntegerKinds() {
  std::vector<KindCase> cases(9);
  cases[0].key = "i8";
  cases[0].value.kind = AMQP_FIELD_KIND_I8;
  cases[0].value.value.i8 = -100;
  cases[1].key = "u8";
  cases[1].value.kind = AMQP_FIELD_KIND_U8;
  cases[1].value.value.u8 = 200;
  cases[2].key = "i16";
  cases[2].value.kind = AMQP_FIELD_KIND_I16;
  cases[2].value.value.i16 = -30000;
  cases[3].key = "u16";
  cases[3].value.kind = AMQP_FIELD_KIND_U16;
  cases[3].value.value.u16 = 60000;
  cases[4].key = "i32";
  cases[4].value.kind = AMQP_FIELD_KIND_I32;
  cases[4].value.value.i32 = -2000000000;
  cases[5].key = "u32";
  cases[5].value.kind = AMQP_FIELD_KIND_U32;
  cases[5].value.value.u32 = 4000000000u;
  cases[6].key = "i64";
  cases[6].value.kind = AMQP_FIELD_KIND_I64;
  cases[6].value.value.i64 = -9000000000000000000;
  cases[7].key = "u64";
  cases[7].value.kind = AMQP_FIELD_KIND_U64;
  cases[7].value.value.u64 = 9000000000000000000u;
  cases[8].key = "text";
  cases[8].value.kind = AMQP_FIELD_KIND_UTF8;
  cases[8].value.value.bytes = amqp_cstring_bytes("7");
  return cases;
}

amqp_table_t TableOf(std::vector<KindCase>& cases, std::vector<amqp_table_entry_t>& entries) {
  entries.clear();
  for (auto& c : cases) entries.push_back(Entry(c.key, c.value));
  return {static_cast<int>(entries.size()), entries.data()};
}

TEST(TableIntTest, ReadsEveryIntegerKind) {
  auto cases = IntegerKinds();
  std::vector<amqp_table_entry_t> entries;
  const auto table = TableOf(cases, entries);
  EXPECT_EQ(TableInt(table, "i8"), Int(-100));
  EXPECT_EQ(TableInt(table, "u8"), Int(200));
  EXPECT_EQ(TableInt(table, "i16"), Int(-30000));
  EXPECT_EQ(TableInt(table, "u16"), Int(60000));
  EXPECT_EQ(TableInt(table, "i32"), Int(-2000000000));
  EXPECT_EQ(TableInt(table, "u32"), Int(4000000000));
  EXPECT_EQ(TableInt(table, "i64"), Int(-9000000000000000000));
  EXPECT_EQ(TableInt(table, "u64"), Int(9000000000000000000));
}

TEST(TableIntTest, RefusesNonIntegerKinds) {
  auto cases = IntegerKinds();
  std::vector<amqp_table_entry_t> entries;
  const auto table = TableOf(cases, entries);
  EXPECT_EQ(TableInt(table, "text"), std::nullopt);

  std::vector<KindCase> others(3);
  others[0].key = "flag";
  others[0].value.kind = AMQP_FIELD_KIND_BOOLEAN;
  others[0].value.value.boolean = 1;
  others[1].key = "double";
  others[1].value.kind = AMQP_FIELD_KIND_F64;
  others[1].value.value.f64 = 3.0;
  others[2].key = "void";
  others[2].value.kind = AMQP_FIELD_KIND_VOID;
  std::vector<amqp_table_entry_t> other_entries;
  const auto other = TableOf(others, other_entries);
  EXPECT_EQ(TableInt(other, "flag"), std::nullopt);
  EXPECT_EQ(TableInt(other, "double"), std::nullopt);
  EXPECT_EQ(TableInt(other, "void"), std::nullopt);
}

TEST(TableStringTest, ReadsUtf8AndBytes) {
  std::string utf8_key = "x-task-source";
  std::string utf8 = "alert";
  std::string bytes_key = "x-raw";
  std::string bytes("a\0b", 3);
  amqp_field_value_t raw{};
  raw.kind = AMQP_FIELD_KIND_BYTES;
  raw.value.bytes = Bytes(bytes);
  std::vector<amqp_table_entry_t> entries = {Entry(utf8_key, Utf8(utf8)), Entry(bytes_key, raw)};
  const amqp_table_t table{static_cast<int>(entries.size()), entries.data()};
  EXPECT_EQ(TableString(table, "x-task-source"), Text("alert"));
  EXPECT_EQ(TableString(table, "x-raw"), Text(std::string("a\0b", 3)));
}

TEST(TableStringTest, RefusesIntegerKinds) {
  auto cases = IntegerKinds();
  std::vector<amqp_table_entry_t> entries;
  const auto table = TableOf(cases, entries);
  for (const char* key : {"i8", "u8", "i16", "u16", "i32", "u32", "i64", "u64"}) {
    EXPECT_EQ(TableString(table, key), std::nullopt) << key;
  }
  EXPECT_EQ(TableString(table, "text"), Text("7"));
}

TEST(TableLookupTest, MissingKeysAreNullopt) {
  auto cases = IntegerKinds();
  std::vector<amqp_table_entry_t> entries;
  const auto table = TableOf(cases, entries);
  EXPECT_EQ(TableInt(table, "i65"), std::nullopt);
  EXPECT_EQ(TableInt(table, "I8"), std::nullopt);
  EXPECT_EQ(TableInt(table, "i"), std::nullopt);
  EXPECT_EQ(TableInt(table, ""), std::nullopt);
  EXPECT_EQ(TableString(table, "tex"), std::nullopt);
  EXPECT_EQ(TableString(table, "text "), std::nullopt);
  EXPECT_EQ(TableInt(amqp_empty_table, "x-retry-count"), std::nullopt);
  EXPECT_EQ(TableString(amqp_empty_table, "x-task-source"), std::nullopt);
}

}  // namespace
}  // namespace nilecare::amqp

namespace nilecare::amqp {
namespace {

// Other clients may send a header with an empty key, which rabbitmq-c cannot clone: it is
// left out, the rest kept (a delivery must never take the worker down).
TEST(TableTest, CopyFromLeavesOutEntriesWithAnEmptyKey) {
  std::string empty, key = "x-kept", value = "v";
  amqp_table_entry_t entries[2] = {{Bytes(empty), {}}, {Bytes(key), {}}};
  entries[0].value.kind = AMQP_FIELD_KIND_I64;
  entries[1].value.kind = AMQP_FIELD_KIND_UTF8;
  entries[1].value.value.bytes = Bytes(value);
  const amqp_table_t source{2, entries};
  Table table;
  table.CopyFrom(source);
  const auto got = table.Get();
  ASSERT_EQ(got.num_entries, 1);
  EXPECT_EQ(TableString(got, "x-kept"), "v");
}

}  // namespace
}  // namespace nilecare::amqp
