package treehash_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// emptyFiles is an uncompressed tar stream of n empty files spread over
// 100 directories ("d17/f0004217"), generated block by block without
// allocating, so that a test can measure what the reader costs alone.
type emptyFiles struct {
	n, i int
	blk  [512]byte
	off  int // unread bytes of blk: 512 - off
	end  int // end-of-archive blocks sent
}

func (e *emptyFiles) Read(p []byte) (int, error) {
	if e.off == 0 || e.off == 512 {
		switch {
		case e.i < e.n:
			e.header(e.i)
			e.i++
		case e.end < 2:
			e.blk = [512]byte{}
			e.end++
		default:
			return 0, io.EOF
		}
		e.off = 0
	}
	n := copy(p, e.blk[e.off:])
	e.off += n
	return n, nil
}

func (e *emptyFiles) header(i int) {
	e.blk = [512]byte{}
	var name [32]byte
	b := append(name[:0], 'd')
	b = strconv.AppendInt(b, int64(i%100), 10)
	b = append(b, "/f"...)
	var digits [20]byte
	num := strconv.AppendInt(digits[:0], int64(i), 10)
	for range 7 - len(num) {
		b = append(b, '0')
	}
	b = append(b, num...)
	copy(e.blk[:100], b)
	copy(e.blk[100:], "0000644\x00")
	copy(e.blk[108:], "0000000\x00")
	copy(e.blk[116:], "0000000\x00")
	copy(e.blk[124:], "00000000000\x00")
	copy(e.blk[136:], "00000000000\x00")
	e.blk[156] = '0'
	copy(e.blk[257:], "ustar\x00")
	copy(e.blk[263:], "00")
	copy(e.blk[148:], "        ")
	sum := int64(0)
	for _, c := range e.blk {
		sum += int64(c)
	}
	// six octal digits, NUL, space
	for j := 153; j >= 148; j-- {
		e.blk[j] = byte('0' + sum&7)
		sum >>= 3
	}
	e.blk[154], e.blk[155] = 0, ' '
}

// emptyFilesDir makes the tree emptyFiles describes, on disk.
func emptyFilesDir(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	for i := range n {
		name := "f" + fmt.Sprintf("%07d", i)
		d := filepath.Join(dir, "d"+strconv.Itoa(i%100))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The generated stream has the tree hash of the same files on disk.
func TestTar_ManyEntriesHash(t *testing.T) {
	const n = 3000
	h, err := treehash.Tar(&emptyFiles{n: n})
	if err != nil {
		t.Fatal(err)
	}
	want, err := treehash.Dir(emptyFilesDir(t, n))
	if err != nil {
		t.Fatal(err)
	}
	if h.SkipEmpty != want || h.KeepEmpty != want {
		t.Errorf("Tar = %s / %s, Dir = %s", h.KeepEmpty, h.SkipEmpty, want)
	}
}

// A tarball's cost does not grow with its entries beyond about 100 bytes
// an entry: 300,000 empty files (what gzip packs into 2.6 MB) are held
// in well under that while the stream is read, and allocated in all
// (garbage included) in under 160. (The tree of maps this replaced held
// 163 bytes an entry and allocated 491: a push's 125 MB for such a
// tarball.)
func TestTar_MemoryPerEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("300,000 entries")
	}
	const n = 300_000
	var before, at, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	k := 0
	h, err := treehash.TarVisit(&emptyFiles{n: n}, func(e *treehash.Entry) io.Writer {
		if k++; k == n { // the whole tree is built, not yet hashed
			runtime.GC()
			runtime.ReadMemStats(&at)
		}
		return nil
	})
	runtime.ReadMemStats(&after)
	if err != nil || k != n {
		t.Fatalf("TarVisit = %v after %d entries", err, k)
	}
	live := int64(at.HeapAlloc) - int64(before.HeapAlloc)
	total := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d entries: %d bytes live an entry, %d allocated an entry; tree %s", n, live/n, total/n, h.SkipEmpty)
	if live > 100*n {
		t.Errorf("%d bytes live for %d entries (%d an entry), want at most 100 an entry", live, n, live/n)
	}
	if total > 160*n {
		t.Errorf("%d bytes allocated for %d entries (%d an entry), want at most 160 an entry", total, n, total/n)
	}
}
