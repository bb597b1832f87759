package treehash

import (
	"archive/tar"
	"crypto/sha1"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// benchTree is a fixture on disk: the directory, a tar of it, and the
// total bytes of its files.
type benchTree struct {
	dir, tar string
	bytes    int64
	files    [][]byte // file contents, for BenchmarkSHA1Raw (nil for large trees)
}

// smallFiles writes 10,000 files of 0-8 KiB in 100 directories.
func smallFiles(b *testing.B) benchTree {
	r := rand.New(rand.NewPCG(1, 2))
	var t benchTree
	t.dir = b.TempDir()
	for i := range 10000 {
		data := make([]byte, r.IntN(8<<10))
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		p := filepath.Join(t.dir, "d"+itoa(i%100), "f"+itoa(i))
		writeBench(b, p, data, i%7 == 0)
		t.bytes += int64(len(data))
		t.files = append(t.files, data)
	}
	t.tar = tarDir(b, t.dir)
	return t
}

// largeFiles writes 4 files of 64 MiB.
func largeFiles(b *testing.B) benchTree {
	r := rand.New(rand.NewPCG(3, 4))
	var t benchTree
	t.dir = b.TempDir()
	data := make([]byte, 64<<20)
	for i := range 4 {
		for j := 0; j < len(data); j += 8 {
			v := r.Uint64()
			for k := range 8 {
				data[j+k] = byte(v >> (8 * k))
			}
		}
		writeBench(b, filepath.Join(t.dir, "big"+itoa(i)), data, false)
		t.bytes += int64(len(data))
	}
	t.tar = tarDir(b, t.dir)
	return t
}

func itoa(i int) string { return strconv.Itoa(i) }

func writeBench(b *testing.B, p string, data []byte, exec bool) {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		b.Fatal(err)
	}
	mode := os.FileMode(0o644)
	if exec {
		mode = 0o755
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		b.Fatal(err)
	}
}

// tarDir writes a tar of dir next to it and returns its path.
func tarDir(b *testing.B, dir string) string {
	out := dir + ".tar"
	f, err := os.Create(out)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		b.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.Remove(out) })
	return out
}

func benchDir(b *testing.B, t benchTree) {
	b.SetBytes(t.bytes)
	b.ResetTimer()
	for b.Loop() {
		if _, err := Dir(t.dir); err != nil {
			b.Fatal(err)
		}
	}
}

func benchTar(b *testing.B, t benchTree) {
	b.SetBytes(t.bytes)
	b.ResetTimer()
	for b.Loop() {
		f, err := os.Open(t.tar)
		if err != nil {
			b.Fatal(err)
		}
		_, err = Tar(f)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDir(b *testing.B) {
	b.Run("10k-small", func(b *testing.B) { benchDir(b, smallFiles(b)) })
	b.Run("4x64MiB", func(b *testing.B) { benchDir(b, largeFiles(b)) })
}

func BenchmarkTar(b *testing.B) {
	b.Run("10k-small", func(b *testing.B) { benchTar(b, smallFiles(b)) })
	b.Run("4x64MiB", func(b *testing.B) { benchTar(b, largeFiles(b)) })
}

// BenchmarkSHA1Raw is the physical limit: crypto/sha1 over the same file
// bytes, already in memory, one hash per file.
func BenchmarkSHA1Raw(b *testing.B) {
	b.Run("10k-small", func(b *testing.B) {
		t := smallFiles(b)
		b.SetBytes(t.bytes)
		b.ResetTimer()
		for b.Loop() {
			for _, data := range t.files {
				sha1.Sum(data)
			}
		}
	})
	b.Run("4x64MiB", func(b *testing.B) {
		t := largeFiles(b)
		data, err := os.ReadFile(filepath.Join(t.dir, "big0"))
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(t.bytes)
		b.ResetTimer()
		for b.Loop() {
			for range 4 {
				sha1.Sum(data)
			}
		}
	})
}
