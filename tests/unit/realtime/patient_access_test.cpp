// Roles-only decisions of the patient-room policy (the care-team call is covered by the
// Node integration tests against a real HTTP server).
#include "nilecare/realtime/patient_access.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

namespace {

using nilecare::realtime::AccessDecision;
using nilecare::realtime::IsValidPatientId;
using nilecare::realtime::PatientAccess;

TEST(PatientAccessTest, PatientIdsAreRestrictedToRoomSafeCharacters) {
  EXPECT_TRUE(IsValidPatientId("P-1001"));
  EXPECT_TRUE(IsValidPatientId("mrn:12.34_x"));
  EXPECT_TRUE(IsValidPatientId(std::string(64, 'a')));
  EXPECT_FALSE(IsValidPatientId(""));
  EXPECT_FALSE(IsValidPatientId(std::string(65, 'a')));
  EXPECT_FALSE(IsValidPatientId("a b"));
  EXPECT_FALSE(IsValidPatientId("a/b"));
  EXPECT_FALSE(IsValidPatientId("a\nb"));
  EXPECT_FALSE(IsValidPatientId("p\xc3\xa9"));
}

AccessDecision Decide(PatientAccess& access, std::vector<std::string> roles,
                      const std::string& patient) {
  std::optional<AccessDecision> decision;
  access.Check("user-1", roles, patient, [&](AccessDecision d) { decision = std::move(d); });
  EXPECT_TRUE(decision.has_value()) << "roles-only checks answer inline";
  return decision.value_or(AccessDecision{});
}

TEST(PatientAccessTest, RolesOnlyPolicy) {
  boost::asio::io_context io;
  nilecare::observability::MetricsRegistry metrics;
  nilecare::config::PatientAccessSettings settings;
  settings.roles = {"doctor", "nurse"};
  PatientAccess access(io, settings, metrics);
  EXPECT_TRUE(Decide(access, {"doctor"}, "P1").allowed);
  EXPECT_TRUE(Decide(access, {"receptionist", "nurse"}, "P1").allowed);
  const AccessDecision refused = Decide(access, {"receptionist"}, "P1");
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.reason, "Not authorized for this patient");
  EXPECT_FALSE(Decide(access, {}, "P1").allowed);
  EXPECT_EQ(Decide(access, {"doctor"}, "bad id").reason, "Invalid patient id");
}

}  // namespace
