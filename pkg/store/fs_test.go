package store

import (
	"errors"
	"testing"
)

func TestMaxFileSize(t *testing.T) {
	real := statfsType
	t.Cleanup(func() { statfsType = real })
	tests := []struct {
		name     string
		fsType   FSType
		err      error
		wantMax  int64
		wantName string
	}{
		{"fat32", 0x4d44, nil, 1<<32 - 1, "vfat"},
		{"exfat", 0x2011BAB0, nil, 0, "exfat"},
		{"ext4", 0xEF53, nil, 0, "0xef53"},
		{"statfs fails", 0, errors.New("boom"), 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			statfsType = func(string) (FSType, error) { return tt.fsType, tt.err }
			max, typ, err := MaxFileSize("/stick")
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("MaxFileSize() error = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || max != tt.wantMax || typ != tt.fsType || typ.String() != tt.wantName {
				t.Fatalf("MaxFileSize() = %d, %v (%s), %v; want %d, %s", max, typ, typ, err, tt.wantMax, tt.wantName)
			}
		})
	}
}

func TestMaxFileSize_Real(t *testing.T) {
	// The test's temp dir is on whatever the machine has (not FAT).
	max, typ, err := MaxFileSize(t.TempDir())
	if err != nil {
		t.Fatalf("MaxFileSize() = %v", err)
	}
	if typ == FSMSDOS {
		t.Skip("temp dir is on vfat")
	}
	if max != 0 {
		t.Errorf("MaxFileSize(%s fs) = %d, want 0", typ, max)
	}
}

func TestFreeSpace(t *testing.T) {
	n, err := FreeSpace(t.TempDir())
	if err != nil || n <= 0 {
		t.Fatalf("FreeSpace() = %d, %v; want > 0", n, err)
	}
	if _, err := FreeSpace("/no/such/dir"); err == nil {
		t.Fatal("FreeSpace(missing) = nil error")
	}
}
