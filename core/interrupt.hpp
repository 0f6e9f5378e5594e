// Graceful interruption of long runs (Ctrl-C / kill).
//
// InstallInterruptHandler() installs SIGINT and SIGTERM handlers that only
// set an atomic flag (async-signal-safe). Training loops poll
// InterruptRequested() between steps; when it is true they save a checkpoint
// and exit cleanly. A second signal while a request is pending (e.g. a
// second Ctrl-C because the program seems stuck) restores the default action
// and re-raises the signal, so it terminates the process as if no handler had
// been installed: the user can always kill the program. (Checkpoints are
// saved atomically, so even that leaves no half-written file.)
//
//   InstallInterruptHandler();
//   for (step = ...; ...; ++step) {
//     if (InterruptRequested()) { SaveCheckpoint(path, ...); return kInterrupted; }
//     ...
//   }
#pragma once

namespace implicit {

// Installs the SIGINT and SIGTERM handlers (sigaction, SA_RESTART; both
// signals blocked while the handler runs). Idempotent; call again to re-arm
// after the default action was restored. A signal that is ignored (SIG_IGN)
// when this is called, as SIGINT is for background jobs started by a
// non-interactive shell, stays ignored. Throws Error if sigaction fails.
void InstallInterruptHandler();

// True once SIGINT/SIGTERM arrived (with the handler installed) or
// RequestInterrupt() was called, until ClearInterruptRequest().
bool InterruptRequested();

// Forgets a pending request (for tests, or after handling one and deciding to
// go on). The next signal then counts as a first one again, provided the
// handler is still installed.
void ClearInterruptRequest();

// Simulates a request without a signal (for tests).
void RequestInterrupt();

}  // namespace implicit
