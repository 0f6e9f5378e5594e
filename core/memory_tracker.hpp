// In-process heap accounting, used to measure the peak memory of a piece of
// code (e.g. one training step): "DEQ training memory at 500 forward
// iterations <= 1.05 x at 20 iterations, while unrolled-network training
// memory grows linearly in depth".
//
// How it counts. Eigen allocates dynamic matrices with std::malloc/std::free
// (its aligned_malloc over-allocates and stores an offset), not with operator
// new, so the C allocation functions themselves are interposed:
// core/memory_tracker_malloc.cpp defines malloc, free, calloc, realloc,
// reallocarray, aligned_alloc, posix_memalign, memalign, valloc and pvalloc
// in the executable, forwards them to glibc's __libc_* entry points and adds /
// subtracts malloc_usable_size() of each block. libstdc++'s operator new /
// delete (plain and aligned), libgomp and glibc's own internal allocations
// call these functions, so they are counted as well. Sizes are usable sizes
// (request rounded up to glibc's chunk granularity), i.e. the memory really
// taken from the allocator, not the bytes requested.
//
// Enabling it. The interposer is the CMake object library
// `implicit_memory_tracker`; link $<TARGET_OBJECTS:implicit_memory_tracker>
// into an executable to enable counting. In executables without it
// MemoryTrackerEnabled() is false and every counter stays 0 (implicit_core
// links fine without it: the counters are weak symbols). Under valgrind (or
// any tool that replaces malloc itself) the interposer is bypassed: the
// counters stay 0 and MemoryTrackerEnabled() is false as well.
//
// Counters are process-wide and updated atomically by every thread (OpenMP
// workers included); a measurement therefore includes whatever other threads
// allocate meanwhile.
#pragma once

namespace implicit {

// Live heap bytes and their peak, counted by malloc interposition (see
// memory_tracker_malloc.cpp). Only meaningful in executables linked with the
// implicit_memory_tracker library; elsewhere MemoryTrackerEnabled() returns
// false and the counters stay 0.
struct HeapStats {
  long long current_bytes = 0;  // usable bytes of all live blocks
  long long peak_bytes = 0;     // max of current_bytes since start / last ResetHeapPeak()
  long long allocations = 0;    // successful allocating calls since start (realloc included)
};

// True iff the malloc interposer is linked into this executable AND really
// sees the allocations (checked with a 1-byte probe allocation each call; it
// is false e.g. under valgrind, which replaces malloc itself).
bool MemoryTrackerEnabled();

// A snapshot of the counters (each read atomically; the three reads are not
// one atomic transaction while other threads allocate).
HeapStats CurrentHeapStats();

// Sets peak := current, so a later CurrentHeapStats().peak_bytes -
// start.current_bytes is the peak extra memory of the code in between.
void ResetHeapPeak();

// RAII: measures the peak additional heap bytes used between construction
// and PeakExtraBytes() (peak - baseline), temporaries that are already freed
// included. The constructor resets the global peak (ResetHeapPeak); the
// destructor restores peak := max(peak before construction, peak now), so
// scopes may nest: an outer scope still sees the inner scope's peak once the
// inner one is destroyed (but not while it is alive and another scope is
// constructed in parallel on another thread: scopes are a single-threaded
// measuring tool, the measured code may use any number of threads).
class HeapPeakScope {
 public:
  HeapPeakScope();
  ~HeapPeakScope();
  HeapPeakScope(const HeapPeakScope&) = delete;
  HeapPeakScope& operator=(const HeapPeakScope&) = delete;

  // Peak live bytes since construction minus live bytes at construction
  // (>= 0; 0 when the tracker is disabled).
  long long PeakExtraBytes() const;
  // Live bytes now minus live bytes at construction (may be negative).
  long long CurrentExtraBytes() const;
  long long baseline_bytes() const { return baseline_; }

 private:
  long long baseline_;
  long long outer_peak_;  // global peak before the constructor reset it
};

// Peak resident set size of the process in bytes, from /proc/self/status
// VmHWM (0 if unavailable). Coarser than the heap counters (pages, includes
// code, stacks and memory freed to the allocator but not to the OS) but needs
// no interposer.
long long PeakRssBytes();
// Current resident set size in bytes (/proc/self/status VmRSS; 0 if unavailable).
long long CurrentRssBytes();
// Resets VmHWM to the current RSS by writing "5" to /proc/self/clear_refs
// (Linux >= 4.0); returns false if that is not permitted / not available.
bool ResetPeakRss();

}  // namespace implicit
