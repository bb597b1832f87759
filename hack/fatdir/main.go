// Command fatdir fills a directory of an unmounted FAT32 image with empty
// files whose names are 64 hex digits (the names of a layout's blobs), by
// writing the directory's entries straight into the image. It is an e2e
// helper, not part of shoebox: FUSE's fusefat takes minutes for every
// thousand files it creates, since each creation scans the whole directory,
// and a test of FAT32's 65,536-entry directory limit needs about 11,000 of
// them. What the directory then holds is read, and added to, by a real FAT
// implementation (fusefat) in the e2e stage.
//
//	go run ./hack/fatdir IMAGE DIR[/SUBDIR...] COUNT
//	go run ./hack/fatdir -entries IMAGE DIR[/SUBDIR...]
//
// With -entries it prints how many 32-byte entries the directory uses
// ("." and ".." included, deleted ones not), as a FAT driver wrote them:
// the e2e stage checks that a 64-hex-digit name takes six.
//
// DIR and its subdirectories are created in the image's root (DIR must not
// exist there yet); the files go into the last one, named
// 0000…0001, 0000…0002, … (64 hex digits), each taking five long-name
// entries and its 8.3 entry, as a FAT driver writes them. The directory's
// clusters are one contiguous run of free clusters, marked in every FAT
// copy, and the FSInfo sector's free count and next-free hint are updated.
//
// Reference: Microsoft's FAT specification (FAT32 BPB, directory entries,
// long file names and their checksum).
package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode/utf16"
)

type image struct {
	f                 *os.File
	bytesPerSec       int64
	secPerClus        int64
	reserved          int64
	numFATs           int64
	fatSz             int64
	rootClus          uint32
	fsInfo            int64
	totalClusters     uint32
	clusterSize       int64
	dataStart         int64
	fat               []uint32 // the first FAT
	allocatedClusters int
}

func main() {
	if len(os.Args) == 4 && os.Args[1] == "-entries" {
		n, err := entries(os.Args[2], strings.Split(strings.Trim(os.Args[3], "/"), "/"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "fatdir:", err)
			os.Exit(1)
		}
		fmt.Println(n)
		return
	}
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: fatdir IMAGE DIR[/SUBDIR...] COUNT")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[3])
	if err != nil || n < 0 {
		fmt.Fprintln(os.Stderr, "fatdir: COUNT must be a number ≥ 0")
		os.Exit(2)
	}
	if err := run(os.Args[1], strings.Split(strings.Trim(os.Args[2], "/"), "/"), n); err != nil {
		fmt.Fprintln(os.Stderr, "fatdir:", err)
		os.Exit(1)
	}
}

func run(path string, dirs []string, n int) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	img := &image{f: f}
	if err := img.load(); err != nil {
		return err
	}
	parent := img.rootClus
	for i, name := range dirs {
		count := 0
		if i == len(dirs)-1 {
			count = n
		}
		// ".", "..", then six entries per file (or two for a directory).
		entries := 2 + 6*count
		if i < len(dirs)-1 {
			entries = 2 + 2
		}
		if entries > 65536 {
			return fmt.Errorf("%d files need %d directory entries; FAT allows 65,536", count, entries)
		}
		clusters := (int64(entries)*32 + img.clusterSize - 1) / img.clusterSize
		first, err := img.allocate(int(clusters))
		if err != nil {
			return err
		}
		dir := make([]byte, clusters*img.clusterSize)
		dotParent := parent
		if parent == img.rootClus {
			dotParent = 0
		}
		copy(dir[0:], sfn(".          ", 0x10, first))
		copy(dir[32:], sfn("..         ", 0x10, dotParent))
		off := 64
		for j := 1; j <= count; j++ {
			name := fmt.Sprintf("%064x", j)
			short := fmt.Sprintf("S%07X   ", j)
			for _, e := range lfn(name, short) {
				copy(dir[off:], e)
				off += 32
			}
			copy(dir[off:], sfn(short, 0x20, 0))
			off += 32
		}
		if err := img.writeClusters(first, dir); err != nil {
			return err
		}
		if err := img.addEntry(parent, name, fmt.Sprintf("D%07X   ", i+1), first); err != nil {
			return err
		}
		parent = first
	}
	return img.save()
}

// entries counts the used entries of the directory at path.
func entries(path string, dirs []string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	img := &image{f: f}
	if err := img.load(); err != nil {
		return 0, err
	}
	c := img.rootClus
	for _, want := range dirs {
		next, err := img.lookup(c, want)
		if err != nil {
			return 0, err
		}
		c = next
	}
	n := 0
	err = img.scan(c, func(e []byte, _ string) bool {
		if e[0] != 0xE5 {
			n++
		}
		return true
	})
	return n, err
}

// scan calls f with each entry of the directory at cluster c up to its
// end marker, and, for an 8.3 entry, the long name before it.
func (img *image) scan(c uint32, f func(e []byte, long string) bool) error {
	var parts []uint16
	for ; c >= 2 && c < 0x0FFFFFF8; c = img.fat[c] {
		buf := make([]byte, img.clusterSize)
		if _, err := img.f.ReadAt(buf, img.clusterOffset(c)); err != nil {
			return err
		}
		for off := 0; off < len(buf); off += 32 {
			e := buf[off : off+32]
			if e[0] == 0 {
				return nil
			}
			long := ""
			if e[11] == 0x0F && e[0] != 0xE5 {
				var chars []uint16
				le := binary.LittleEndian
				for _, r := range [][2]int{{1, 5}, {14, 6}, {28, 2}} {
					for i := range r[1] {
						chars = append(chars, le.Uint16(e[r[0]+2*i:]))
					}
				}
				parts = append(chars, parts...)
			} else if len(parts) > 0 {
				end := len(parts)
				for i, u := range parts {
					if u == 0 {
						end = i
						break
					}
				}
				long, parts = string(utf16.Decode(parts[:end])), nil
			}
			if !f(e, long) {
				return nil
			}
		}
	}
	return nil
}

// lookup returns the first cluster of the subdirectory name of the
// directory at cluster c.
func (img *image) lookup(c uint32, name string) (uint32, error) {
	found := uint32(0)
	err := img.scan(c, func(e []byte, long string) bool {
		if e[11]&0x10 != 0 && e[11] != 0x0F && e[0] != 0xE5 && (long == name || strings.TrimSpace(string(e[:11])) == strings.ToUpper(name)) {
			le := binary.LittleEndian
			found = uint32(le.Uint16(e[20:]))<<16 | uint32(le.Uint16(e[26:]))
			return false
		}
		return true
	})
	if err == nil && found == 0 {
		err = fmt.Errorf("no directory %q", name)
	}
	return found, err
}

func (img *image) load() error {
	b := make([]byte, 512)
	if _, err := img.f.ReadAt(b, 0); err != nil {
		return err
	}
	le := binary.LittleEndian
	img.bytesPerSec = int64(le.Uint16(b[11:]))
	img.secPerClus = int64(b[13])
	img.reserved = int64(le.Uint16(b[14:]))
	img.numFATs = int64(b[16])
	img.fatSz = int64(le.Uint32(b[36:]))
	img.rootClus = le.Uint32(b[44:])
	img.fsInfo = int64(le.Uint16(b[48:]))
	if le.Uint16(b[22:]) != 0 || img.fatSz == 0 || img.bytesPerSec == 0 || img.secPerClus == 0 {
		return errors.New("not a FAT32 image")
	}
	total := int64(le.Uint32(b[32:]))
	img.clusterSize = img.bytesPerSec * img.secPerClus
	img.dataStart = (img.reserved + img.numFATs*img.fatSz) * img.bytesPerSec
	img.totalClusters = uint32((total*img.bytesPerSec - img.dataStart) / img.clusterSize)
	raw := make([]byte, img.fatSz*img.bytesPerSec)
	if _, err := img.f.ReadAt(raw, img.reserved*img.bytesPerSec); err != nil {
		return err
	}
	img.fat = make([]uint32, len(raw)/4)
	for i := range img.fat {
		img.fat[i] = le.Uint32(raw[4*i:]) & 0x0FFFFFFF
	}
	return nil
}

// allocate finds n contiguous free clusters and chains them.
func (img *image) allocate(n int) (uint32, error) {
	run, start := 0, uint32(0)
	for c := uint32(2); c < img.totalClusters+2 && int(c) < len(img.fat); c++ {
		if img.fat[c] != 0 {
			run = 0
			continue
		}
		if run == 0 {
			start = c
		}
		if run++; run == n {
			for i := uint32(0); i < uint32(n); i++ {
				img.fat[start+i] = start + i + 1
			}
			img.fat[start+uint32(n)-1] = 0x0FFFFFFF
			img.allocatedClusters += n
			return start, nil
		}
	}
	return 0, fmt.Errorf("no run of %d free clusters", n)
}

func (img *image) clusterOffset(c uint32) int64 {
	return img.dataStart + int64(c-2)*img.clusterSize
}

func (img *image) writeClusters(first uint32, b []byte) error {
	for c, off := first, int64(0); off < int64(len(b)); off += img.clusterSize {
		if _, err := img.f.WriteAt(b[off:off+img.clusterSize], img.clusterOffset(c)); err != nil {
			return err
		}
		c = img.fat[c]
	}
	return nil
}

// addEntry adds a directory's long name and 8.3 entry to the directory
// starting at cluster dir, in its first run of free slots.
func (img *image) addEntry(dir uint32, name, short string, first uint32) error {
	ents := append(lfn(name, short), sfn(short, 0x10, first))
	for c := dir; c < 0x0FFFFFF8; c = img.fat[c] {
		buf := make([]byte, img.clusterSize)
		if _, err := img.f.ReadAt(buf, img.clusterOffset(c)); err != nil {
			return err
		}
		free := 0
		for off := 0; off < len(buf); off += 32 {
			if buf[off] == 0 || buf[off] == 0xE5 {
				free++
			} else {
				free = 0
			}
			if free == len(ents) {
				at := off - 32*(len(ents)-1)
				for i, e := range ents {
					copy(buf[at+32*i:], e)
				}
				_, err := img.f.WriteAt(buf, img.clusterOffset(c))
				return err
			}
		}
	}
	return fmt.Errorf("no room for %q in its parent directory", name)
}

// save writes every FAT copy and the FSInfo hints.
func (img *image) save() error {
	le := binary.LittleEndian
	raw := make([]byte, img.fatSz*img.bytesPerSec)
	for i, v := range img.fat {
		le.PutUint32(raw[4*i:], v)
	}
	for k := int64(0); k < img.numFATs; k++ {
		if _, err := img.f.WriteAt(raw, (img.reserved+k*img.fatSz)*img.bytesPerSec); err != nil {
			return err
		}
	}
	if img.fsInfo > 0 && img.fsInfo != 0xFFFF {
		b := make([]byte, 512)
		at := img.fsInfo * img.bytesPerSec
		if _, err := img.f.ReadAt(b, at); err != nil {
			return err
		}
		if le.Uint32(b[0:]) == 0x41615252 && le.Uint32(b[484:]) == 0x61417272 {
			free, next := uint32(0), uint32(0xFFFFFFFF)
			for c := uint32(2); c < img.totalClusters+2 && int(c) < len(img.fat); c++ {
				if img.fat[c] == 0 {
					free++
					if next == 0xFFFFFFFF {
						next = c
					}
				}
			}
			le.PutUint32(b[488:], free)
			le.PutUint32(b[492:], next)
			if _, err := img.f.WriteAt(b, at); err != nil {
				return err
			}
		}
	}
	return img.f.Sync()
}

// date is 2026-01-01 in FAT's packed form.
const date = (2026-1980)<<9 | 1<<5 | 1

// sfn is an 8.3 directory entry.
func sfn(name11 string, attr byte, first uint32) []byte {
	b := make([]byte, 32)
	copy(b, name11)
	b[11] = attr
	le := binary.LittleEndian
	le.PutUint16(b[16:], date)
	le.PutUint16(b[18:], date)
	le.PutUint16(b[20:], uint16(first>>16))
	le.PutUint16(b[24:], date)
	le.PutUint16(b[26:], uint16(first))
	return b
}

// lfn returns the long-name entries of name for the 8.3 name short, in the
// order they are stored (the last part first).
func lfn(name, short string) [][]byte {
	u := utf16.Encode([]rune(name))
	parts := (len(u) + 12) / 13
	var sum byte
	for i := range 11 {
		sum = (sum&1)<<7 + sum>>1 + short[i]
	}
	out := make([][]byte, 0, parts)
	for p := parts; p >= 1; p-- {
		b := make([]byte, 32)
		ord := byte(p)
		if p == parts {
			ord |= 0x40
		}
		b[0] = ord
		b[11] = 0x0F
		b[13] = sum
		var chars [13]uint16
		for i := range chars {
			k := (p-1)*13 + i
			switch {
			case k < len(u):
				chars[i] = u[k]
			case k == len(u):
				chars[i] = 0
			default:
				chars[i] = 0xFFFF
			}
		}
		le := binary.LittleEndian
		for i := range 5 {
			le.PutUint16(b[1+2*i:], chars[i])
		}
		for i := range 6 {
			le.PutUint16(b[14+2*i:], chars[5+i])
		}
		for i := range 2 {
			le.PutUint16(b[28+2*i:], chars[11+i])
		}
		out = append(out, b)
	}
	return out
}
