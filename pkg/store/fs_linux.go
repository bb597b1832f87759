//go:build linux

package store

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// fsFUSE is FUSE's f_type: the file system behind it is named in
// /proc/self/mountinfo ("fuse.fusefat").
const fsFUSE = 0x65735546

func platformStatfsType(path string) (FSType, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return fuseType(path, FSType(uint32(st.Type))), nil
}

func platformFreeSpace(path string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

func platformStatfs(path string) (fsStat, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return fsStat{}, err
	}
	fs := fsStat{typ: fuseType(path, FSType(uint32(st.Type)))}
	if st.Blocks > 0 { // fusefat reports no blocks at all: free space unknown
		fs.free, fs.block = int64(st.Bavail)*int64(st.Bsize), int64(st.Bsize)
	}
	return fs, nil
}

// fuseType names the file system a FUSE mount serves when its type says
// so: FAT through fusefat ("fuse.fusefat") is FSMSDOS, with FAT32's
// limits; anything else stays as statfs said.
func fuseType(path string, t FSType) FSType {
	if t != fsFUSE {
		return t
	}
	if typ := mountType(path); strings.HasPrefix(typ, "fuse.") && strings.HasSuffix(typ, "fat") && !strings.HasSuffix(typ, "exfat") {
		return FSMSDOS
	}
	return t
}

// mountType returns the file system type /proc/self/mountinfo gives the
// mount holding path (the longest mount point that is a prefix of it), or
// "".
func mountType(path string) string {
	p, err := filepath.Abs(path)
	if err != nil {
		return ""
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	best, typ := -1, ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw"
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		fields, after := strings.Fields(pre), strings.Fields(post)
		if len(fields) < 5 || len(after) < 1 {
			continue
		}
		mp := unescapeMount(fields[4])
		if (p == mp || strings.HasPrefix(p, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > best {
			best, typ = len(mp), after[0]
		}
	}
	return typ
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, ok := octal3(s[i+1 : i+4]); ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func octal3(s string) (byte, bool) {
	var v int
	for _, c := range s {
		if c < '0' || c > '7' {
			return 0, false
		}
		v = v*8 + int(c-'0')
	}
	return byte(v), v < 256
}
