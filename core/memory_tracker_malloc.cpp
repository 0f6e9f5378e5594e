// The malloc interposer behind core/memory_tracker.hpp (CMake object library
// `implicit_memory_tracker`; link $<TARGET_OBJECTS:implicit_memory_tracker>
// into an executable to enable counting). Do not put it in a shared library
// or in implicit_core: replacing malloc must be an explicit, per-executable
// decision.
//
// Design:
//  * The C allocation functions are defined here with C linkage and default
//    visibility. Defined in the executable, they come first in the dynamic
//    linker's lookup scope, so libc (strdup, fopen, ...), libstdc++ (operator
//    new/delete, plain and aligned), libgomp and Eigen's std::malloc all bind
//    to them.
//  * Each forwards to glibc's real allocator through its exported
//    __libc_malloc / __libc_free / __libc_calloc / __libc_realloc /
//    __libc_memalign / __libc_valloc / __libc_pvalloc entry points. No
//    dlsym(RTLD_NEXT) means no bootstrap problem (dlsym itself allocates)
//    and no recursion: none of those functions, nor malloc_usable_size,
//    calls back into malloc.
//  * Bytes are malloc_usable_size() of the block: what the allocator really
//    handed out, and a value that can be recomputed at free time without a
//    side table. Every block we ever see comes from glibc's allocator (all
//    allocation paths go through here from the first allocation of the
//    process), so malloc_usable_size is always valid on it.
//  * Counters are lock-free std::atomic<long long> with relaxed ordering (only
//    their own values matter, not ordering with other memory), constant-
//    initialised (no constructor, nothing runs before the first malloc), and
//    exported with C linkage so that core/memory_tracker.cpp can reference
//    them weakly: linked without this file they resolve to null, which is
//    how MemoryTrackerEnabled() knows.
//  * realloc: a block moved to a new address is counted as new-then-old (the
//    transient peak of copy-and-free); an in-place resize as the net change;
//    realloc(p, 0) frees p in glibc (returns null) and is counted as a free.
//  * Under valgrind (3.19 checked with --trace-redir): memcheck redirects
//    malloc, free, calloc, realloc, memalign, aligned_alloc, posix_memalign
//    and valloc of the executable too (so they never run), and the __libc_*
//    aliases in libc. reallocarray and pvalloc here still run but forward to
//    the redirected functions. So the program runs on valgrind's heap with
//    full checking, MemoryTrackerEnabled() (which probes) reports false and
//    the counters are meaningless. Valgrind 3.19 aborts on any pvalloc call
//    and does not decode AVX-512: run it on a -DIMPLICIT_NATIVE=OFF build.
#include <malloc.h>
#include <stdlib.h>

#include <atomic>
#include <cerrno>
#include <cstddef>

extern "C" {
// glibc's real allocator (exported with version GLIBC_2.2.5; not declared in
// any header).
void* __libc_malloc(size_t size) noexcept;
void __libc_free(void* ptr) noexcept;
void* __libc_calloc(size_t count, size_t size) noexcept;
void* __libc_realloc(void* ptr, size_t size) noexcept;
void* __libc_memalign(size_t alignment, size_t size) noexcept;
void* __libc_valloc(size_t size) noexcept;
void* __libc_pvalloc(size_t size) noexcept;

// The counters read by core/memory_tracker.cpp (there declared weak). Each on
// its own cache line: `current` is written by every allocation and free,
// `peak` is mostly read.
alignas(64) __attribute__((visibility("default"))) std::atomic<long long>
    implicit_memtrack_current_bytes{0};
alignas(64) __attribute__((visibility("default"))) std::atomic<long long>
    implicit_memtrack_peak_bytes{0};
alignas(64) __attribute__((visibility("default"))) std::atomic<long long>
    implicit_memtrack_allocations{0};
}

namespace {

static_assert(std::atomic<long long>::is_always_lock_free,
              "the malloc counters must not take a lock (a lock could allocate)");

constexpr std::memory_order kRelaxed = std::memory_order_relaxed;

long long UsableSize(void* ptr) noexcept {
  return static_cast<long long>(malloc_usable_size(ptr));
}

void RaisePeak(long long now) noexcept {
  long long peak = implicit_memtrack_peak_bytes.load(kRelaxed);
  while (now > peak &&
         !implicit_memtrack_peak_bytes.compare_exchange_weak(peak, now, kRelaxed, kRelaxed)) {
  }
}

void CountAllocated(long long bytes) noexcept {
  implicit_memtrack_allocations.fetch_add(1, kRelaxed);
  RaisePeak(implicit_memtrack_current_bytes.fetch_add(bytes, kRelaxed) + bytes);
}

void CountFreed(long long bytes) noexcept {
  implicit_memtrack_current_bytes.fetch_sub(bytes, kRelaxed);
}

// Returns ptr after counting it (if not null).
void* Counted(void* ptr) noexcept {
  if (ptr != nullptr) CountAllocated(UsableSize(ptr));
  return ptr;
}

}  // namespace

#define IMPLICIT_EXPORT extern "C" __attribute__((visibility("default")))

IMPLICIT_EXPORT void* malloc(size_t size) noexcept { return Counted(__libc_malloc(size)); }

IMPLICIT_EXPORT void free(void* ptr) noexcept {
  if (ptr == nullptr) return;
  CountFreed(UsableSize(ptr));  // before the block is gone
  __libc_free(ptr);
}

IMPLICIT_EXPORT void* calloc(size_t count, size_t size) noexcept {
  return Counted(__libc_calloc(count, size));
}

IMPLICIT_EXPORT void* realloc(void* ptr, size_t size) noexcept {
  if (ptr == nullptr) return Counted(__libc_realloc(nullptr, size));
  const long long old_bytes = UsableSize(ptr);
  void* result = __libc_realloc(ptr, size);
  if (result == nullptr) {
    // size == 0: glibc freed ptr. Otherwise out of memory: ptr is untouched.
    if (size == 0) CountFreed(old_bytes);
    return nullptr;
  }
  const long long new_bytes = UsableSize(result);
  if (result == ptr) {
    implicit_memtrack_allocations.fetch_add(1, kRelaxed);
    const long long delta = new_bytes - old_bytes;
    RaisePeak(implicit_memtrack_current_bytes.fetch_add(delta, kRelaxed) + delta);
  } else {
    CountAllocated(new_bytes);
    CountFreed(old_bytes);
  }
  return result;
}

IMPLICIT_EXPORT void* reallocarray(void* ptr, size_t count, size_t size) noexcept {
  size_t bytes = 0;
  if (__builtin_mul_overflow(count, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  return realloc(ptr, bytes);
}

IMPLICIT_EXPORT void* memalign(size_t alignment, size_t size) noexcept {
  return Counted(__libc_memalign(alignment, size));
}

// glibc 2.36 makes aligned_alloc an alias of memalign (a non-power-of-two
// alignment is rounded up); keep exactly that behaviour.
IMPLICIT_EXPORT void* aligned_alloc(size_t alignment, size_t size) noexcept {
  return Counted(__libc_memalign(alignment, size));
}

IMPLICIT_EXPORT int posix_memalign(void** out, size_t alignment, size_t size) noexcept {
  // glibc's checks: a power-of-two multiple of sizeof(void*).
  if (alignment % sizeof(void*) != 0 || alignment == 0 ||
      ((alignment / sizeof(void*)) & (alignment / sizeof(void*) - 1)) != 0) {
    return EINVAL;
  }
  const int saved_errno = errno;  // posix_memalign reports through its result only
  void* ptr = __libc_memalign(alignment, size);
  if (ptr == nullptr) {
    const int error = errno == EINVAL ? EINVAL : ENOMEM;
    errno = saved_errno;
    return error;
  }
  *out = Counted(ptr);
  return 0;
}

IMPLICIT_EXPORT void* valloc(size_t size) noexcept { return Counted(__libc_valloc(size)); }

IMPLICIT_EXPORT void* pvalloc(size_t size) noexcept { return Counted(__libc_pvalloc(size)); }
