package store

import "syscall"

func ctimeNsec(st *syscall.Stat_t) int64 { return st.Ctim.Nano() }
