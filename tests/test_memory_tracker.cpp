// The heap counter (core/memory_tracker.hpp). This executable links the
// malloc interposer ($<TARGET_OBJECTS:implicit_memory_tracker>), so counting
// is enabled here. Measurements are taken into locals first and checked
// afterwards, so that doctest's own bookkeeping is not measured.
//
// Valgrind: valgrind 3.19 does not decode AVX-512, so use a build configured
// with -DIMPLICIT_NATIVE=OFF. There malloc is valgrind's own, the counters
// stay 0, and only the allocation paths and the RSS functions are checked.
#include "core/memory_tracker.hpp"

#include <Eigen/Dense>
#include <doctest/doctest.h>
#include <malloc.h>
#include <omp.h>

#include <barrier>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <thread>
#include <vector>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define IMPLICIT_ON_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#else
#define IMPLICIT_ON_VALGRIND() false
#endif

using namespace implicit;

namespace {

bool OnValgrind() { return IMPLICIT_ON_VALGRIND(); }

// Under valgrind the interposer is bypassed (MemoryTrackerEnabled() is then
// false): the allocation code still runs (it must not crash), only the
// counter checks are skipped. Everywhere else they are all active.
bool Counting() {
  static const bool counting = !OnValgrind() || MemoryTrackerEnabled();
  return counting;
}
#define CHECK_COUNT(...)      \
  do {                        \
    if (Counting()) {         \
      CHECK(__VA_ARGS__);     \
    }                         \
  } while (false)

// Small allocations by the C++ runtime, doctest, etc. between two readings.
constexpr long long kSlack = 64 * 1024;

// Makes a pointer escape so that the compiler cannot elide the allocation
// (GCC removes malloc/free and new/delete pairs whose pointer is unused).
void Escape(const void* ptr) { asm volatile("" : : "g"(ptr) : "memory"); }

long long Current() { return CurrentHeapStats().current_bytes; }

long long Diff(long long a, long long b) { return a > b ? a - b : b - a; }

}  // namespace

TEST_CASE("the interposer is linked and counts from the first allocation") {
  if (OnValgrind()) {
    MESSAGE("running under valgrind: malloc is valgrind's, the counters are bypassed "
            "(only the allocation paths are exercised)");
    CHECK_FALSE(MemoryTrackerEnabled());
  } else {
    CHECK(MemoryTrackerEnabled());
  }
  const HeapStats stats = CurrentHeapStats();
  CHECK_COUNT(stats.allocations > 0);  // the C++ runtime and doctest allocated already
  CHECK_COUNT(stats.current_bytes > 0);
  CHECK_COUNT(stats.peak_bytes >= stats.current_bytes);
}

TEST_CASE("an Eigen matrix (std::malloc through Eigen's aligned_malloc) is counted") {
  const HeapStats before = CurrentHeapStats();
  HeapStats during;
  {
    Eigen::MatrixXf m(1000, 1000);
    m.setConstant(1.0f);
    Escape(m.data());
    during = CurrentHeapStats();
  }
  const HeapStats after = CurrentHeapStats();
  const long long added = during.current_bytes - before.current_bytes;
  CHECK_COUNT(added >= 4'000'000);
  CHECK_COUNT(added < 4'000'000 + kSlack);  // usable size: alignment offset + page rounding only
  CHECK_COUNT(during.allocations > before.allocations);
  CHECK_COUNT(during.peak_bytes >= during.current_bytes);
  CHECK_COUNT(after.peak_bytes >= before.current_bytes + 4'000'000);
  CHECK_COUNT(Diff(after.current_bytes, before.current_bytes) <= kSlack);
}

TEST_CASE("HeapPeakScope measures the peak of temporaries already freed") {
  long long peak = 0;
  long long extra_now = 0;
  {
    HeapPeakScope scope;
    {
      Eigen::MatrixXd tmp = Eigen::MatrixXd::Random(500, 500);  // 2'000'000 bytes
      Escape(tmp.data());
    }
    peak = scope.PeakExtraBytes();
    extra_now = scope.CurrentExtraBytes();
  }
  CHECK_COUNT(peak >= 2'000'000);
  CHECK_COUNT(peak < 2'000'000 + kSlack);
  CHECK_COUNT(extra_now <= kSlack);

  // Eigen's aliasing-safe product assignment evaluates into a temporary.
  const Eigen::MatrixXd a = Eigen::MatrixXd::Random(300, 300);
  const Eigen::MatrixXd b = Eigen::MatrixXd::Random(300, 300);
  Eigen::MatrixXd c(300, 300);
  long long product_peak = 0;
  {
    HeapPeakScope scope;
    c = a * b;
    Escape(c.data());
    product_peak = scope.PeakExtraBytes();
  }
  CHECK_COUNT(product_peak >= 300 * 300 * 8);
}

TEST_CASE("HeapPeakScope nests: the outer scope keeps its peak and sees the inner one") {
  long long outer_after_small_inner = 0;
  long long outer_after_big_inner = 0;
  long long inner_small = 0;
  long long inner_big = 0;
  {
    HeapPeakScope outer;
    {
      std::vector<char> block(3'000'000);
      Escape(block.data());
    }
    {
      HeapPeakScope inner;
      std::vector<char> block(1'000'000);
      Escape(block.data());
      inner_small = inner.PeakExtraBytes();
    }
    outer_after_small_inner = outer.PeakExtraBytes();
    {
      HeapPeakScope inner;
      std::vector<char> block(5'000'000);
      Escape(block.data());
      inner_big = inner.PeakExtraBytes();
    }
    outer_after_big_inner = outer.PeakExtraBytes();
  }
  CHECK_COUNT(inner_small >= 1'000'000);
  CHECK_COUNT(inner_small < 1'000'000 + kSlack);
  CHECK_COUNT(outer_after_small_inner >= 3'000'000);      // not lost by the inner reset
  CHECK_COUNT(outer_after_small_inner < 3'000'000 + kSlack);
  CHECK_COUNT(inner_big >= 5'000'000);
  CHECK_COUNT(outer_after_big_inner >= 5'000'000);        // inner peak propagated outwards
}

TEST_CASE("operator new / new[] / aligned new go through the counted malloc") {
  const long long base = Current();
  long long with_vector = 0;
  {
    std::vector<double> v(1'000'000);
    Escape(v.data());
    with_vector = Current();
  }
  const long long after_vector = Current();

  double* array = new double[250'000];
  Escape(array);
  const long long with_array = Current();
  delete[] array;
  const long long after_array = Current();

  struct alignas(256) Page {
    char bytes[1 << 20];
  };
  long long with_aligned = 0;
  {
    auto page = std::make_unique<Page>();  // operator new(size_t, align_val_t)
    Escape(page.get());
    CHECK(reinterpret_cast<std::uintptr_t>(page.get()) % 256 == 0);
    with_aligned = Current();
  }
  const long long after_aligned = Current();

  CHECK_COUNT(with_vector - base >= 8'000'000);
  CHECK_COUNT(Diff(after_vector, base) <= kSlack);
  CHECK_COUNT(with_array - after_vector >= 2'000'000);
  CHECK_COUNT(Diff(after_array, base) <= kSlack);
  CHECK_COUNT(with_aligned - after_array >= (1 << 20));
  CHECK_COUNT(Diff(after_aligned, base) <= kSlack);
}

TEST_CASE("C allocation functions: realloc growth / shrink / free, calloc, aligned forms") {
  const long long base = Current();
  std::free(nullptr);  // a no-op
  CHECK_COUNT(Current() == base);

  void* p = std::malloc(1000);
  Escape(p);
  const long long small = Current();
  p = std::realloc(p, 1'000'000);
  REQUIRE(p != nullptr);
  std::memset(p, 1, 1'000'000);
  Escape(p);
  const long long grown = Current();
  const long long grown_peak = CurrentHeapStats().peak_bytes;
  p = std::realloc(p, 10);
  REQUIRE(p != nullptr);
  Escape(p);
  const long long shrunk = Current();
  std::free(p);
  const long long freed = Current();
  CHECK_COUNT(small - base >= 1000);
  CHECK_COUNT(grown - base >= 1'000'000);
  CHECK_COUNT(grown - base < 1'000'000 + kSlack);
  CHECK_COUNT(grown_peak >= grown);
  CHECK_COUNT(shrunk - base < 8192);
  CHECK_COUNT(Diff(freed, base) <= 1024);

  // realloc(nullptr, n) allocates; realloc(p, 0) frees (glibc returns null).
  void* q = std::realloc(nullptr, 50'000);
  Escape(q);
  const long long via_realloc = Current();
  void* r = std::realloc(q, 0);
  CHECK(r == nullptr);
  std::free(r);
  CHECK_COUNT(via_realloc - base >= 50'000);
  CHECK_COUNT(Diff(Current(), base) <= 1024);

  void* zeros = std::calloc(100'000, 8);
  Escape(zeros);
  CHECK_COUNT(Current() - base >= 800'000);
  std::free(zeros);

  void* arr = reallocarray(nullptr, 1000, 100);
  Escape(arr);
  CHECK_COUNT(Current() - base >= 100'000);
  errno = 0;
  volatile std::size_t huge = static_cast<std::size_t>(-1) / 2;  // runtime value: no warning
  std::free(arr);
  void* overflowed = reallocarray(nullptr, huge, 4);  // count * size overflows
  const int overflow_errno = errno;
  CHECK(overflowed == nullptr);
  CHECK(overflow_errno == ENOMEM);

  void* aligned = nullptr;
  CHECK(posix_memalign(&aligned, 64, 300'000) == 0);
  Escape(aligned);
  CHECK(reinterpret_cast<std::uintptr_t>(aligned) % 64 == 0);
  CHECK_COUNT(Current() - base >= 300'000);
  std::free(aligned);
  void* unused = nullptr;
  CHECK(posix_memalign(&unused, 3, 10) == EINVAL);
  CHECK(unused == nullptr);

  void* a1 = std::aligned_alloc(128, 128 * 1000);
  void* a2 = memalign(4096, 20'000);
  void* a3 = valloc(20'000);
  // valgrind 3.19 aborts on any pvalloc call (with or without the interposer).
  void* a4 = OnValgrind() ? valloc(20'000) : pvalloc(20'000);
  Escape(a1);
  Escape(a2);
  Escape(a3);
  Escape(a4);
  const long long with_aligned = Current();
  const bool all_aligned = reinterpret_cast<std::uintptr_t>(a1) % 128 == 0 &&
                           reinterpret_cast<std::uintptr_t>(a2) % 4096 == 0 &&
                           reinterpret_cast<std::uintptr_t>(a3) % 4096 == 0 &&
                           reinterpret_cast<std::uintptr_t>(a4) % 4096 == 0;
  std::free(a1);
  std::free(a2);
  std::free(a3);
  std::free(a4);
  CHECK(all_aligned);
  CHECK_COUNT(with_aligned - base >= 128'000 + 3 * 20'000);
  CHECK_COUNT(Diff(Current(), base) <= 1024);
}

TEST_CASE("two std::threads allocating concurrently: balanced counts and a joint peak") {
  constexpr int kThreads = 2;
  constexpr int kIterations = 20'000;
  constexpr std::size_t kHeld = 4'000'000;
  std::barrier sync(kThreads);
  auto work = [&](unsigned seed) {
    std::vector<void*> ring(64, nullptr);
    for (int i = 0; i < kIterations; ++i) {
      seed = seed * 1664525u + 1013904223u;
      void*& slot = ring[static_cast<std::size_t>(i) % ring.size()];
      std::free(slot);
      slot = std::malloc(16 + (seed >> 16) % 8192);
      Escape(slot);
      if (i % 1000 == 0) {  // some operator new traffic and reallocs too
        std::vector<float> v(1000 + seed % 5000);
        Escape(v.data());
        slot = std::realloc(slot, 20'000);
      }
    }
    for (void* block : ring) std::free(block);
    // Both threads hold kHeld bytes at the same time.
    std::vector<char> held(kHeld);
    Escape(held.data());
    sync.arrive_and_wait();
    sync.arrive_and_wait();
  };

  // Warm-up: the first thread creation may allocate lasting runtime state.
  std::thread([] {}).join();
  const HeapStats before = CurrentHeapStats();
  ResetHeapPeak();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(work, 12345u + 77u * t);
  for (std::thread& thread : threads) thread.join();
  threads.clear();
  threads.shrink_to_fit();
  const HeapStats after = CurrentHeapStats();

  CHECK_COUNT(after.allocations - before.allocations >= kThreads * kIterations);
  CHECK_COUNT(after.peak_bytes - before.current_bytes >= kThreads * static_cast<long long>(kHeld));
  CHECK_COUNT(Diff(after.current_bytes, before.current_bytes) <= kSlack);
}

TEST_CASE("OpenMP workers allocating concurrently: balanced counts and a joint peak") {
  constexpr long long kHeld = 2'000'000;  // bytes per thread, held across a barrier
  // Warm-up: libgomp allocates its thread pool once and keeps it.
#pragma omp parallel num_threads(2)
  {
    Eigen::VectorXf v = Eigen::VectorXf::Ones(100);
    Escape(v.data());
  }
  const HeapStats before = CurrentHeapStats();
  ResetHeapPeak();
  int threads = 0;
#pragma omp parallel num_threads(2)
  {
#pragma omp single
    threads = omp_get_num_threads();
    for (int i = 0; i < 2000; ++i) {
      Eigen::MatrixXf m = Eigen::MatrixXf::Constant(8 + i % 50, 8 + i % 30, 1.0f);
      Escape(m.data());
    }
    Eigen::VectorXd held = Eigen::VectorXd::Zero(kHeld / 8);
    Escape(held.data());
#pragma omp barrier
  }
  const HeapStats after = CurrentHeapStats();
  CHECK(threads >= 1);
  CHECK_COUNT(after.allocations - before.allocations >= 2000LL * threads);
  CHECK_COUNT(after.peak_bytes - before.current_bytes >= threads * kHeld);
  CHECK_COUNT(Diff(after.current_bytes, before.current_bytes) <= kSlack);
}

TEST_CASE("peak memory: a stored tape grows with depth, a fixed-point loop does not") {
  // Unrolled-network training stores one state per layer; a DEQ forward
  // solve keeps only the current iterate.
  auto peak_of = [](int depth, bool store_tape) {
    const Eigen::MatrixXf start = Eigen::MatrixXf::Constant(64, 256, 1.0f);
    HeapPeakScope scope;
    std::vector<Eigen::MatrixXf> tape;
    if (store_tape) tape.reserve(static_cast<std::size_t>(depth));
    Eigen::MatrixXf z = start;
    for (int k = 0; k < depth; ++k) {
      if (store_tape) tape.push_back(z);
      Eigen::MatrixXf next = (0.5f * z.array() + 1.0f).matrix();
      z.swap(next);
    }
    Escape(z.data());
    return scope.PeakExtraBytes();
  };
  const long long fixed_20 = peak_of(20, false);
  const long long fixed_500 = peak_of(500, false);
  const long long tape_10 = peak_of(10, true);
  const long long tape_40 = peak_of(40, true);
  const long long tape_160 = peak_of(160, true);
  constexpr long long kStateBytes = 64 * 256 * 4;
  CHECK_COUNT(fixed_20 >= 2 * kStateBytes);  // z and next
  CHECK_COUNT(fixed_500 <= 1.05 * fixed_20);
  // Linear in depth: each stored layer adds one state (+ allocator overhead).
  const double slope_low = (tape_40 - tape_10) / 30.0;
  const double slope_high = (tape_160 - tape_40) / 120.0;
  CHECK_COUNT(slope_low >= kStateBytes);
  CHECK_COUNT(slope_low < kStateBytes + 1024);
  CHECK_COUNT(slope_high == doctest::Approx(slope_low).epsilon(0.01));
}

TEST_CASE("resident set size from /proc/self/status") {
  const long long rss = CurrentRssBytes();
  const long long hwm = PeakRssBytes();
  CHECK(rss > 0);
  CHECK(hwm > 0);
  // VmHWM is read after VmRSS; the kernel's per-thread RSS counters are
  // synchronised lazily, hence a little tolerance.
  CHECK(hwm + (1 << 20) >= rss);

  // 64 MiB is above glibc's largest mmap threshold: mapped, touched, unmapped.
  constexpr std::size_t kBig = 64u << 20;
  {
    std::unique_ptr<char[]> big(new char[kBig]);
    std::memset(big.get(), 1, kBig);
    Escape(big.get());
    CHECK(CurrentRssBytes() >= rss + static_cast<long long>(kBig) / 2);
  }
  const long long hwm_after_big = PeakRssBytes();
  CHECK(hwm_after_big >= rss + static_cast<long long>(kBig) / 2);
  if (ResetPeakRss()) {
    CHECK(PeakRssBytes() < hwm_after_big - static_cast<long long>(kBig) / 2);
  } else {
    MESSAGE("/proc/self/clear_refs not writable here: ResetPeakRss() returned false");
  }
}
