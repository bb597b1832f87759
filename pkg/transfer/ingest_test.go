package transfer

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// fanOutRun feeds src through a fanOut: the store side through WriteTo
// (or Read when viaRead) into w, the scanner side through scanner; it
// returns what each side got and the store side's error.
func fanOutRun(t *testing.T, src io.Reader, w io.Writer, viaRead bool, scanner func(io.Reader) ([]byte, error)) (scanned []byte, scanErr, storeErr error) {
	t.Helper()
	fo := newFanOut(src)
	defer fo.release()
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := scanner(fo.reader())
		io.Copy(io.Discard, fo.reader()) // as scan does: always drain
		done <- result{b, err}
	}()
	if viaRead {
		_, storeErr = io.CopyBuffer(w, onlyReaderT{fo}, make([]byte, 1000))
	} else {
		_, storeErr = fo.WriteTo(w)
	}
	fo.close(storeErr)
	r := <-done
	return r.b, r.err, storeErr
}

type onlyReaderT struct{ io.Reader }

func TestFanOut_BothSidesGetEveryByte(t *testing.T) {
	data := make([]byte, 3*fanOutChunk+12345)
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	for _, tt := range []struct {
		name    string
		src     func() io.Reader
		viaRead bool
	}{
		{"WriteTo", func() io.Reader { return bytes.NewReader(data) }, false},
		{"WriteTo short reads", func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) }, false},
		{"Read", func() io.Reader { return bytes.NewReader(data) }, true},
		{"empty", func() io.Reader { return bytes.NewReader(nil) }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := data
			if tt.name == "empty" {
				want = nil
			}
			var stored bytes.Buffer
			scanned, scanErr, storeErr := fanOutRun(t, tt.src(), &stored, tt.viaRead, io.ReadAll)
			if storeErr != nil || scanErr != nil {
				t.Fatalf("store error %v, scan error %v", storeErr, scanErr)
			}
			if !bytes.Equal(stored.Bytes(), want) || !bytes.Equal(scanned, want) {
				t.Fatalf("stored %d bytes, scanned %d; want %d each, equal", stored.Len(), len(scanned), len(want))
			}
		})
	}
}

// A scanner that gives up early (a rejected tarball) does not stall the
// store side, which still reads the whole stream.
func TestFanOut_ScannerStopsEarly(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 10*fanOutChunk)
	var stored bytes.Buffer
	errBad := errors.New("bad tar")
	_, scanErr, storeErr := fanOutRun(t, bytes.NewReader(data), &stored, false, func(r io.Reader) ([]byte, error) {
		io.ReadFull(r, make([]byte, 10))
		return nil, errBad
	})
	if storeErr != nil || !errors.Is(scanErr, errBad) || stored.Len() != len(data) {
		t.Fatalf("store error %v (%d bytes), scan error %v", storeErr, stored.Len(), scanErr)
	}
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n += len(p); w.n > 2*fanOutChunk {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

// A store side that fails ends the scanner's stream with its error.
func TestFanOut_StoreFails(t *testing.T) {
	data := bytes.Repeat([]byte("y"), 10*fanOutChunk)
	_, scanErr, storeErr := fanOutRun(t, bytes.NewReader(data), &failingWriter{}, false, io.ReadAll)
	if storeErr == nil || !errors.Is(scanErr, storeErr) {
		t.Fatalf("store error %v, scan error %v; want the scanner to get the store's", storeErr, scanErr)
	}
}

// A source error reaches the store side.
func TestFanOut_SourceFails(t *testing.T) {
	errSrc := errors.New("connection reset")
	src := io.MultiReader(bytes.NewReader(make([]byte, fanOutChunk+7)), iotest.ErrReader(errSrc))
	_, scanErr, storeErr := fanOutRun(t, src, io.Discard, false, io.ReadAll)
	if !errors.Is(storeErr, errSrc) || !errors.Is(scanErr, errSrc) {
		t.Fatalf("store error %v, scan error %v; want %v for both", storeErr, scanErr, errSrc)
	}
}
