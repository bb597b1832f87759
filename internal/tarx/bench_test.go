package tarx

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// textish returns n bytes of deterministic, text-like data (words from a
// small vocabulary), which gzip compresses about as well as source code.
func textish(seed uint64, n int) []byte {
	words := []string{"function", "end", "return", "module", "using", "const", "struct",
		"x", "y", "i", "=", "+", "(", ")", "[", "]", "\n", "    ", "Int", "Float64",
		"for", "in", "if", "else", "0", "1", "42", "true", "nothing", "\"hello\"", "#", ","}
	r := rand.New(rand.NewPCG(seed, 0))
	b := make([]byte, 0, n+16)
	for len(b) < n {
		b = append(b, words[r.IntN(len(words))]...)
		b = append(b, ' ')
	}
	return b[:n]
}

// smallFilesTree writes 1000 files of 0.5-4 KiB in 40 directories and
// returns the number of content bytes.
func smallFilesTree(b *testing.B, dir string) int64 {
	var total int64
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 1000 {
		d := filepath.Join(dir, fmt.Sprintf("d%02d", i%40))
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
		data := textish(uint64(i), 512+r.IntN(3584))
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%04d.jl", i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(len(data))
	}
	return total
}

func bigFileTree(b *testing.B, dir string) int64 {
	data := textish(7, 64<<20)
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	return int64(len(data))
}

func BenchmarkWriteDir(b *testing.B) {
	trees := []struct {
		name   string
		make   func(*testing.B, string) int64
		levels []int
	}{
		{"1k-small", smallFilesTree, []int{1, DefaultLevel, 9}},
		{"64MiB", bigFileTree, []int{1, DefaultLevel}}, // level 9: ~3 MB/s
		{"registry-mini", registryMiniTree, []int{1, DefaultLevel, 9}},
	}
	for _, tree := range trees {
		dir := b.TempDir()
		if *benchTreeDir != "" {
			dir = filepath.Join(*benchTreeDir, tree.name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		size := tree.make(b, dir)
		for _, level := range tree.levels {
			b.Run(fmt.Sprintf("%s/level-%d", tree.name, level), func(b *testing.B) {
				b.SetBytes(size)
				var n int64
				for b.Loop() {
					cw := &countWriter{}
					if err := WriteDir(cw, dir, WriteOptions{Level: level}); err != nil {
						b.Fatal(err)
					}
					n = cw.n
				}
				b.ReportMetric(float64(n)/float64(size), "ratio")
			})
		}
		b.Run(tree.name+"/tar-only", func(b *testing.B) {
			b.SetBytes(size)
			root, err := os.OpenRoot(dir)
			if err != nil {
				b.Fatal(err)
			}
			defer root.Close()
			for b.Loop() {
				if err := WriteTar(io.Discard, root.FS(), WriteOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchTreeDir keeps the benchmark trees, for comparing with other tools:
// go test -run '^$' -bench WriteDir -args -benchtree=DIR
var benchTreeDir = flag.String("benchtree", "", "write the BenchmarkWriteDir trees under this directory and keep them")

// registryMiniTree copies the registry fixture (a real slice of General).
func registryMiniTree(b *testing.B, dir string) int64 {
	src := registryMini(b)
	var total int64
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		total += int64(len(data))
		return os.WriteFile(filepath.Join(dir, rel), data, 0o644)
	})
	if err != nil {
		b.Fatal(err)
	}
	return total
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func BenchmarkDecompress(b *testing.B) {
	dir := b.TempDir()
	bigFileTree(b, dir)
	var gz bytes.Buffer
	if err := WriteDir(&gz, dir, WriteOptions{}); err != nil {
		b.Fatal(err)
	}
	var tarBuf bytes.Buffer
	root, err := os.OpenRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	if err := WriteTar(&tarBuf, root.FS(), WriteOptions{}); err != nil {
		b.Fatal(err)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		b.Fatal(err)
	}
	zst := enc.EncodeAll(tarBuf.Bytes(), nil)
	for _, c := range []struct {
		name string
		data []byte
	}{{"gzip", gz.Bytes()}, {"zstd", zst}, {"none", tarBuf.Bytes()}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(tarBuf.Len()))
			for b.Loop() {
				rc, _, err := Decompress(bytes.NewReader(c.data))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, rc); err != nil {
					b.Fatal(err)
				}
				rc.Close()
			}
		})
	}
}
