package treehash

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// names exercise git's sort order ("foo.bar" < "foo/" < "foo0"), case,
// non-ASCII and spaces.
var names = []string{
	"foo", "foo.bar", "foo0", "foo-", "Foo", "a", "b", "z", "bar", "bar0",
	"schön", "日本語", "é", "x y", "README.md", "src", "lib", "deps", "_", "~",
}

var symlinkTargets = []string{
	"foo", "../foo", "foo.bar", "a/b", "nowhere", "../../../etc/passwd", "/abs/path",
	"schön", "日本語/x", ".", "..", "src/",
}

// genTree returns a pseudo-random tree for seed: files (some executable,
// some with only group/other exec bits), symlinks (dangling, to
// directories, non-ASCII), nested empty directories and, if withGit, ".git"
// files in directories that also hold a regular file (git skips them; a
// directory holding only ".git" is hashed differently by Pkg and git).
func genTree(seed uint64, maxEntries int, withGit bool) []ent {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var ents []ent
	var gen func(dir string, depth int)
	gen = func(parent string, depth int) {
		used := map[string]bool{}
		n := 1 + r.IntN(8)
		hasFile := false
		for i := 0; i < n && len(ents) < maxEntries; i++ {
			name := names[r.IntN(len(names))]
			if used[name] {
				continue
			}
			used[name] = true
			p := path.Join(parent, name)
			switch k := r.IntN(10); {
			case k < 4:
				body := strings.Repeat(fmt.Sprintf("%s %d\n", p, r.IntN(1000)), r.IntN(20))
				e := file(p, body)
				e.exec = r.IntN(3) == 0
				ents = append(ents, e)
				hasFile = true
			case k < 6 && depth < 4:
				ents = append(ents, dir(p))
				gen(p, depth+1)
			case k < 7:
				// a chain of empty directories
				q := p
				for j := r.IntN(3); j >= 0; j-- {
					q = path.Join(q, names[r.IntN(len(names))])
				}
				ents = append(ents, dir(q))
			default:
				ents = append(ents, symlink(p, symlinkTargets[r.IntN(len(symlinkTargets))]))
			}
		}
		if withGit && hasFile && r.IntN(3) == 0 {
			ents = append(ents, file(path.Join(parent, ".git"), "gitdir: nowhere\n"))
		}
	}
	gen("", 0)
	return ents
}

// gitWriteTree returns `git write-tree` of the work tree root, with the
// repository kept outside it.
func gitWriteTree(t *testing.T, root string) string {
	t.Helper()
	gitDir := t.TempDir()
	run := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"--git-dir=" + gitDir, "--work-tree=" + root}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME="+gitDir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("init", "-q")
	run("-c", "core.symlinks=true", "-c", "core.filemode=true", "add", "-A")
	return run("write-tree")
}

func withoutGit(ents []ent) []ent {
	var out []ent
	for _, e := range ents {
		if path.Base(e.path) != ".git" {
			out = append(out, e)
		}
	}
	return out
}

// Dir and Tar against git itself on generated trees.
func TestDir_AgainstGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	seeds := 40
	if testing.Short() {
		seeds = 5
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			ents := genTree(seed, 100, true)
			root := writeTree(t, ents)
			want := gitWriteTree(t, root)
			got, err := Dir(root)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != want {
				t.Errorf("Dir() = %s, git write-tree = %s", got, want)
			}
			th, err := Tar(strings.NewReader(string(tarOf(t, withoutGit(ents)))))
			if err != nil {
				t.Fatal(err)
			}
			if th.SkipEmpty.String() != want {
				t.Errorf("Tar().SkipEmpty = %s, git write-tree = %s", th.SkipEmpty, want)
			}
			keep, err := DirSum(root, Options{KeepEmpty: true})
			if err != nil {
				t.Fatal(err)
			}
			if hexOf(keep) != th.KeepEmpty.String() {
				t.Errorf("DirSum(KeepEmpty) = %x, Tar().KeepEmpty = %s", keep, th.KeepEmpty)
			}
		})
	}
}

// Pkg's contains_files counts ".git": a directory holding only a ".git"
// file is an empty tree, where git would drop it.
func TestDir_GitQuirks(t *testing.T) {
	tests := []struct {
		name string
		ents []ent
		want string
	}{
		// git mktree of "040000 tree <empty>\tonly"
		{"only .git file", []ent{file("only/.git", "garbage\n")}, "f490af1669f790679e89d06fc551a9f175078984"},
		{"empty .git dir", []ent{dir("e/.git/objects")}, "4b825dc642cb6eb9a060e54bf8d69288fbee4904"},
		{".git at root", []ent{file(".git/config", "x"), file("foo", "Hello, world!")}, "339aad93c0f854604248ea3b7c5b7edea20625a9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Dir(writeTree(t, tt.ents))
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tt.want {
				t.Errorf("Dir() = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestDir_Errors(t *testing.T) {
	if _, err := Dir(filepath.Join(t.TempDir(), "missing")); !os.IsNotExist(err) {
		t.Errorf("Dir(missing) error = %v, want fs.ErrNotExist", err)
	}
	if _, err := DirSum(t.TempDir(), Options{Algorithm: "md5"}); err == nil || !strings.Contains(err.Error(), "md5") {
		t.Errorf("DirSum(md5) error = %v, want ErrUnknownAlgorithm", err)
	}
}

// The registry-mini fixture, a slice of General (shared/testdata/README.md).
func TestDir_RegistryMini(t *testing.T) {
	root := filepath.Join("..", "..", "..", "shared", "testdata", "registry-mini")
	if _, err := os.Stat(root); err != nil {
		t.Skipf("fixture missing: %v", err)
	}
	got, err := Dir(root)
	if err != nil {
		t.Fatal(err)
	}
	if want := "44b305d95fdb7501ac6b9923fee0b5e48ae90e11"; got.String() != want {
		t.Errorf("Dir(registry-mini) = %s, want %s", got, want)
	}
}
