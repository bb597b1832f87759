package transfer

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/shoebox-jl/shoebox/internal/testkit/testregistry"
)

// TestCopy_Mount: between two repositories of one registry every blob is
// mounted, none uploaded; a registry that refuses mounts gets the blobs
// uploaded, and the copy verifies either way.
func TestCopy_Mount(t *testing.T) {
	fx := signedBundle(t)
	ctx := context.Background()
	for _, refuse := range []bool{false, true} {
		t.Run(map[bool]string{false: "mounted", true: "refused"}[refuse], func(t *testing.T) {
			var mu sync.Mutex // guards uploads, mounts
			uploads, mounts := map[string]int{}, 0
			reg := testregistry.New(t, testregistry.Options{Handler: func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					isMount := r.Method == http.MethodPost && r.URL.Query().Get("mount") != ""
					if isMount && refuse {
						http.Error(w, `{"errors":[{"code":"DENIED","message":"mount refused"}]}`, http.StatusForbidden)
						return
					}
					h.ServeHTTP(w, r)
					repo, _, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v2/"), "/blobs/uploads/")
					mu.Lock()
					defer mu.Unlock()
					switch {
					case ok && r.Method == http.MethodPut:
						uploads[repo]++
					case ok && isMount:
						mounts++
					}
				})
			}})
			staging := openRemote(t, reg.Host(), "julia/staging")
			if _, err := Copy(ctx, openRO(t, fx.dir), staging, fx.index, []string{"v1"}, CopyOptions{}); err != nil {
				t.Fatal(err)
			}
			staged := uploads["julia/staging"]
			dst := openRemote(t, reg.Host(), "julia/bundles")
			res, err := Copy(ctx, staging, dst, fx.index, []string{"v1"}, CopyOptions{})
			if err != nil {
				t.Fatalf("Copy staging → bundles: %v", err)
			}
			mu.Lock()
			got, gotMounts := uploads["julia/bundles"], mounts
			mu.Unlock()
			if refuse {
				if res.Mounted != 0 || got != staged || gotMounts != 0 {
					t.Errorf("refused: mounted %d, %d uploads, %d mounts; want 0, %d, 0", res.Mounted, got, gotMounts, staged)
				}
			} else if res.Mounted != staged || got != 0 || gotMounts != staged {
				t.Errorf("mounted %d, %d uploads, %d mounts; want %d, 0, %d", res.Mounted, got, gotMounts, staged, staged)
			}
			mustVerify(t, dst, policyOf(t, 1, fx.pems["a"]), fx.index)
		})
	}
}
