//go:build unix && !linux

package store

import "syscall"

func ctimeNsec(st *syscall.Stat_t) int64 { return st.Ctimespec.Nano() }
