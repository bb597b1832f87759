package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// lockFileName is the writer lock of a layout, in the layout's root. It is
// created once and never removed: removing it would let two writers lock
// two different files.
const lockFileName = ".shoebox.lock"

// lockPoll is how often a waiting writer retries the lock.
const lockPoll = 50 * time.Millisecond

// fileLock is a held layout lock.
type fileLock struct {
	f *os.File
}

// acquireLock locks path exclusively, retrying for up to wait. The holder's
// pid is written into the file so that a waiter can name it.
func acquireLock(ctx context.Context, layoutDir, path string, wait time.Duration, log *slog.Logger) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("layout %s: opening lock file: %w", layoutDir, err)
	}
	if !lockSupported {
		log.Warn("no cross-process layout lock on this platform", "layout", layoutDir)
	}
	deadline := time.Now().Add(wait)
	logged := false
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("layout %s: locking %s: %w", layoutDir, path, err)
		}
		if ok {
			break
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			pid := readPID(f)
			f.Close()
			if pid > 0 {
				return nil, fmt.Errorf("layout %s: held by pid %d: %w", layoutDir, pid, ErrLocked)
			}
			return nil, fmt.Errorf("layout %s: %w", layoutDir, ErrLocked)
		}
		if !logged {
			log.Debug("waiting for layout lock", "layout", layoutDir, "holder_pid", readPID(f), "wait_ms", wait.Milliseconds())
			logged = true
		}
		t := time.NewTimer(min(lockPoll, remaining))
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("layout %s: waiting for lock: %w", layoutDir, ctx.Err())
		case <-t.C:
		}
	}
	// Record our pid. Best effort: the lock is what matters.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &fileLock{f: f}, nil
}

// readPID returns the pid recorded in a lock file, or 0.
func readPID(f *os.File) int {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 32))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// release forgets the pid and drops the lock.
func (l *fileLock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
