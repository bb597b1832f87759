package shelf

import (
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestMemCache_LRU(t *testing.T) {
	if newMemCache(0, 0) != nil {
		t.Fatal("newMemCache(0, 0) != nil, want nil (no cache)")
	}
	c := newMemCache(10, 4)
	d := func(s string) digest.Digest { return digest.FromString(s) }
	c.put(d("a"), []byte("aaaa"))
	c.put(d("b"), []byte("bbbb"))
	c.put(d("big"), []byte("bigger")) // over the item limit
	if _, ok := c.get(d("a")); !ok {  // a is now the most recent
		t.Fatal("get(a) missed")
	}
	c.put(d("c"), []byte("cccc")) // evicts b
	for _, tt := range []struct {
		k    string
		want bool
	}{{"a", true}, {"b", false}, {"c", true}, {"big", false}} {
		if _, ok := c.get(d(tt.k)); ok != tt.want {
			t.Errorf("get(%s) = %v, want %v", tt.k, ok, tt.want)
		}
	}
	if c.Len() != 2 || c.Size() != 8 {
		t.Errorf("Len, Size = %d, %d; want 2, 8", c.Len(), c.Size())
	}
	c.drop(d("a"))
	if c.Len() != 1 || c.Size() != 4 {
		t.Errorf("after drop: Len, Size = %d, %d; want 1, 4", c.Len(), c.Size())
	}
}
