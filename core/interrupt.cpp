// SIGINT/SIGTERM -> atomic flag (see interrupt.hpp).
//
// The handler only touches a lock-free std::atomic<bool> and, on a second
// signal, calls signal() and raise(), both on POSIX's list of
// async-signal-safe functions. The re-raised signal is blocked while the
// handler runs (it is in sa_mask), so it is delivered, with the default
// action, as soon as the handler returns.
#include "core/interrupt.hpp"

#include "core/types.hpp"

#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

namespace {

std::atomic<bool> g_interrupt_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free,
              "the interrupt flag must be lock-free to be used in a signal handler");

}  // namespace

// C language linkage (it is called by the C library), internal linkage.
extern "C" {
static void ImplicitOnInterruptSignal(int signal_number) {
  const int saved_errno = errno;
  if (g_interrupt_requested.exchange(true)) {
    // Second signal while a request is pending: back to the default action.
    ::signal(signal_number, SIG_DFL);
    ::raise(signal_number);
  }
  errno = saved_errno;
}
}

namespace implicit {

void InstallInterruptHandler() {
  struct sigaction action {};
  action.sa_handler = ImplicitOnInterruptSignal;
  sigemptyset(&action.sa_mask);
  sigaddset(&action.sa_mask, SIGINT);
  sigaddset(&action.sa_mask, SIGTERM);
  action.sa_flags = SA_RESTART;
  for (const int signal_number : {SIGINT, SIGTERM}) {
    const char* name = signal_number == SIGINT ? "SIGINT" : "SIGTERM";
    struct sigaction previous {};
    if (::sigaction(signal_number, nullptr, &previous) != 0) {
      throw Error(std::string("cannot query the ") + name + " handler: " + std::strerror(errno));
    }
    if (!(previous.sa_flags & SA_SIGINFO) && previous.sa_handler == SIG_IGN) continue;
    if (::sigaction(signal_number, &action, nullptr) != 0) {
      throw Error(std::string("cannot install the ") + name + " handler: " + std::strerror(errno));
    }
  }
}

bool InterruptRequested() { return g_interrupt_requested.load(); }

void ClearInterruptRequest() { g_interrupt_requested.store(false); }

void RequestInterrupt() { g_interrupt_requested.store(true); }

}  // namespace implicit
