#pragma once
// device_id -> patient_id, for readings whose payload names no patient (private to
// src/mqtt). Loaded from the devices table by the vitals writer (at start and every
// mqtt.device_refresh) and updated at once by PUT /api/v1/devices/{id}; read by the MQTT
// callback, so lookups never touch the database and keep working while it is down.

#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace nilecare::mqtt {

class DeviceDirectory {
 public:
  // "" when the device is not mapped.
  std::string PatientOf(const std::string& device_id) const {
    std::shared_lock lock(mutex_);
    const auto it = patients_.find(device_id);
    return it == patients_.end() ? std::string() : it->second;
  }

  void Set(const std::string& device_id, const std::string& patient_id) {
    std::unique_lock lock(mutex_);
    if (patient_id.empty()) {
      patients_.erase(device_id);
    } else {
      patients_[device_id] = patient_id;
    }
  }

  void Replace(std::vector<std::pair<std::string, std::string>> mapping) {
    std::unordered_map<std::string, std::string> fresh;
    fresh.reserve(mapping.size());
    for (auto& [device, patient] : mapping) fresh.emplace(std::move(device), std::move(patient));
    std::unique_lock lock(mutex_);
    patients_.swap(fresh);
  }

  std::size_t Size() const {
    std::shared_lock lock(mutex_);
    return patients_.size();
  }

 private:
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, std::string> patients_;
};

}  // namespace nilecare::mqtt
