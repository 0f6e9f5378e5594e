#include "core/memory_tracker.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

// Defined by core/memory_tracker_malloc.cpp when that object is linked into
// the executable; weak so that implicit_core links without it (then their
// addresses are null and the tracker reports itself disabled).
extern "C" {
extern __attribute__((weak)) std::atomic<long long> implicit_memtrack_current_bytes;
extern __attribute__((weak)) std::atomic<long long> implicit_memtrack_peak_bytes;
extern __attribute__((weak)) std::atomic<long long> implicit_memtrack_allocations;
}

namespace implicit {
namespace {

constexpr std::memory_order kRelaxed = std::memory_order_relaxed;

// The address is read through a volatile pointer so the compiler cannot
// assume a (weak) object's address is non-null.
std::atomic<long long>* Counter(std::atomic<long long>* weak_address) {
  std::atomic<long long>* volatile address = weak_address;
  return address;
}

long long Load(std::atomic<long long>* counter) {
  return counter != nullptr ? counter->load(kRelaxed) : 0;
}

void RaisePeakTo(long long value) {
  std::atomic<long long>* peak = Counter(&implicit_memtrack_peak_bytes);
  if (peak == nullptr) return;
  long long seen = peak->load(kRelaxed);
  while (value > seen && !peak->compare_exchange_weak(seen, value, kRelaxed, kRelaxed)) {
  }
}

// Reads "<key>:   <n> kB" from /proc/self/status, in bytes; 0 if absent.
// Uses a stack buffer and fgets; stdio's FILE itself is heap-allocated,
// which is counted like any allocation (and freed before returning).
long long ProcStatusKilobytesAsBytes(const char* key) {
  std::FILE* file = std::fopen("/proc/self/status", "re");
  if (file == nullptr) return 0;
  const std::size_t key_length = std::strlen(key);
  char line[256];
  long long bytes = 0;
  while (std::fgets(line, sizeof line, file) != nullptr) {
    if (std::strncmp(line, key, key_length) == 0 && line[key_length] == ':') {
      long long kilobytes = 0;
      if (std::sscanf(line + key_length + 1, "%lld", &kilobytes) == 1) bytes = kilobytes * 1024;
      break;
    }
  }
  std::fclose(file);
  return bytes;
}

}  // namespace

// Linked is not enough: a tool that replaces malloc itself (e.g. valgrind,
// which redirects the executable's malloc too) bypasses the interposer, and
// the counters would silently stay 0. So probe: one small allocation must raise
// the allocation count.
bool MemoryTrackerEnabled() {
  std::atomic<long long>* allocations = Counter(&implicit_memtrack_allocations);
  if (allocations == nullptr) return false;
  const long long before = allocations->load(kRelaxed);
  void* probe = std::malloc(1);
  asm volatile("" : : "g"(probe) : "memory");  // keep the malloc/free pair
  const bool counted = allocations->load(kRelaxed) != before;
  std::free(probe);
  return counted;
}

HeapStats CurrentHeapStats() {
  HeapStats stats;
  stats.current_bytes = Load(Counter(&implicit_memtrack_current_bytes));
  stats.peak_bytes = Load(Counter(&implicit_memtrack_peak_bytes));
  stats.allocations = Load(Counter(&implicit_memtrack_allocations));
  return stats;
}

void ResetHeapPeak() {
  std::atomic<long long>* peak = Counter(&implicit_memtrack_peak_bytes);
  if (peak == nullptr) return;
  peak->store(Load(Counter(&implicit_memtrack_current_bytes)), kRelaxed);
}

HeapPeakScope::HeapPeakScope()
    : baseline_(Load(Counter(&implicit_memtrack_current_bytes))),
      outer_peak_(Load(Counter(&implicit_memtrack_peak_bytes))) {
  // ResetHeapPeak() with the very value used as baseline.
  if (std::atomic<long long>* peak = Counter(&implicit_memtrack_peak_bytes)) {
    peak->store(baseline_, kRelaxed);
  }
}

HeapPeakScope::~HeapPeakScope() { RaisePeakTo(outer_peak_); }

long long HeapPeakScope::PeakExtraBytes() const {
  return std::max(0LL, Load(Counter(&implicit_memtrack_peak_bytes)) - baseline_);
}

long long HeapPeakScope::CurrentExtraBytes() const {
  return Load(Counter(&implicit_memtrack_current_bytes)) - baseline_;
}

long long PeakRssBytes() { return ProcStatusKilobytesAsBytes("VmHWM"); }

long long CurrentRssBytes() { return ProcStatusKilobytesAsBytes("VmRSS"); }

bool ResetPeakRss() {
  std::FILE* file = std::fopen("/proc/self/clear_refs", "we");
  if (file == nullptr) return false;
  const bool written = std::fputs("5", file) >= 0;
  const bool closed = std::fclose(file) == 0;  // the write happens at flush
  return written && closed;
}

}  // namespace implicit
