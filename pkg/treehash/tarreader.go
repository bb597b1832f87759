package treehash

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// EntryType is the kind of a tar entry that Tar.jl accepts.
type EntryType uint8

// The entry types. Every other tar type flag is rejected.
const (
	TypeFile     EntryType = iota + 1 // regular file (type flag '0' or NUL)
	TypeDir                           // directory ('5')
	TypeSymlink                       // symbolic link ('2')
	TypeHardlink                      // hard link to an earlier regular file ('1')
)

func (t EntryType) String() string {
	switch t {
	case TypeFile:
		return "file"
	case TypeDir:
		return "directory"
	case TypeSymlink:
		return "symlink"
	case TypeHardlink:
		return "hardlink"
	}
	return fmt.Sprintf("EntryType(%d)", uint8(t))
}

// Entry is one validated, normalized tar entry.
type Entry struct {
	// Path is normalized: "/"-separated, no empty or "." components, so no
	// "./" prefix and no trailing "/". The root entry is never returned.
	Path string
	Type EntryType
	// Exec is the owner-exec bit (mode & 0o100) of a TypeFile or TypeHardlink.
	Exec bool
	// Size is the body length of a TypeFile. For a TypeHardlink it is the size of
	// the linked file; a Hardlink has no body of its own.
	Size int64
	// Link is a Symlink's target exactly as stored (it may be absolute or
	// contain ".."), or a Hardlink's target, normalized like Path.
	Link string
}

// maxExtendedHeader bounds the data of pax and GNU long-name headers, the
// only part of a stream that is held in memory.
const maxExtendedHeader = 8 << 20

const blockSize = 512

// ustar header field offsets and lengths.
const (
	offName, lenName         = 0, 100
	offMode, lenMode         = 100, 8
	offSize, lenSize         = 124, 12
	offChksum, lenChksum     = 148, 8
	offType                  = 156
	offLinkname, lenLinkname = 157, 100
	offVersion, lenVersion   = 263, 2
	offPrefix, lenPrefix     = 345, 155
)

// pathKind is what read_tarball records for each normalized path: the kind
// of the last entry with exactly that path.
type pathKind uint8

const (
	kindFile pathKind = iota + 1
	kindHardlink
	kindSymlink
	kindDir
)

func (k pathKind) String() string {
	switch k {
	case kindFile:
		return "file"
	case kindHardlink:
		return "hardlink"
	case kindSymlink:
		return "symlink"
	case kindDir:
		return "directory"
	}
	return "non-existent"
}

// TarReader reads an uncompressed tar stream under Tar.jl's rules (see the
// package documentation), returning only entries Tar.jl would extract.
// The first error is sticky. Not safe for concurrent use.
type TarReader struct {
	r       *bufio.Reader
	blk     [blockSize]byte
	globals map[string]string // pax "g" keys in effect
	t       *tree             // the tree so far, and read_tarball's record of every path seen
	err     error             // sticky
	cur     *Entry            // current entry (entry, reused)
	entry   Entry
	node    int32 // current entry's record in the tree, -1 for none
	target  int32 // a Hardlink's target record, -1 for none
	remain  int64 // unread body bytes of cur
	pad     int64 // padding after the body
	started bool  // a valid header block was read
}

// NewTarReader returns a reader of the uncompressed tar stream r.
func NewTarReader(r io.Reader) *TarReader {
	return newTarReader(bufio.NewReaderSize(r, tarBufSize))
}

// tarBufSize is the read buffer of a TarReader.
const tarBufSize = 64 << 10

func newTarReader(br *bufio.Reader) *TarReader {
	return newTarReaderSum(br, SHA1.Size())
}

// newTarReaderSum is newTarReader keeping blob ids of idSize bytes.
func newTarReaderSum(br *bufio.Reader, idSize int) *TarReader {
	return &TarReader{
		r:       br,
		globals: map[string]string{},
		t:       newTree(idSize),
		node:    -1,
		target:  -1,
	}
}

// Next advances to the next entry, skipping whatever of the current body
// was not read. It returns io.EOF at the end of the archive. Errors for a
// rejected entry are *EntryError values wrapping ErrTarEntry. The Entry is
// valid until the next call to Next.
func (tr *TarReader) Next() (*Entry, error) {
	if tr.err != nil {
		return nil, tr.err
	}
	e, err := tr.next()
	if err != nil {
		tr.err = err
		tr.cur, tr.node, tr.target = nil, -1, -1
		return nil, err
	}
	return e, nil
}

// Read reads the body of the current TypeFile entry; it returns io.EOF at its
// end, and at once for other entry types.
func (tr *TarReader) Read(p []byte) (int, error) {
	if tr.err != nil {
		return 0, tr.err
	}
	if tr.remain <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > tr.remain {
		p = p[:tr.remain]
	}
	n, err := tr.r.Read(p)
	tr.remain -= int64(n)
	if err == io.EOF {
		if tr.remain > 0 {
			err = io.ErrUnexpectedEOF
		} else {
			err = nil
		}
	}
	if err != nil {
		tr.err = entryErr(tr.cur.Path, fmt.Errorf("reading body: %w", err))
		return n, tr.err
	}
	return n, nil
}

func (tr *TarReader) skip(n int64) error {
	if n <= 0 {
		return nil
	}
	m, err := io.CopyN(io.Discard, tr.r, n)
	if m < n && (err == nil || err == io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func (tr *TarReader) next() (*Entry, error) {
	if tr.cur != nil {
		if err := tr.skip(tr.remain + tr.pad); err != nil {
			return nil, entryErr(tr.cur.Path, fmt.Errorf("skipping body: %w", err))
		}
		tr.cur, tr.node, tr.target, tr.remain, tr.pad = nil, -1, -1, 0, 0
	}
	for {
		h, err := tr.readHeader()
		if err != nil {
			return nil, err
		}
		e, err := tr.accept(h)
		if err != nil {
			return nil, err
		}
		if e == nil { // the root entry
			continue
		}
		return e, nil
	}
}

// header is a tar entry after extended headers were applied.
type header struct {
	path, link string
	typ        byte
	mode       int64
	size       int64
}

// readBlock reads one 512-byte block. It returns io.EOF only at a block
// boundary at the end of the stream.
func (tr *TarReader) readBlock() error {
	_, err := io.ReadFull(tr.r, tr.blk[:])
	return err
}

// readStandard reads one header block; ok is false at the end of the
// archive (a zero block, after which the stream is drained, or EOF).
func (tr *TarReader) readStandard() (h header, ok bool, err error) {
	if err := tr.readBlock(); err != nil {
		if err == io.EOF {
			return h, false, nil
		}
		return h, false, fmt.Errorf("reading tar header block: %w", err)
	}
	if tr.blk == [blockSize]byte{} {
		if _, err := io.Copy(io.Discard, tr.r); err != nil {
			return h, false, fmt.Errorf("reading past end of archive: %w", err)
		}
		return h, false, nil
	}
	b := tr.blk[:]
	name := cstr(b[offName : offName+lenName])
	prefix := cstr(b[offPrefix : offPrefix+lenPrefix])
	h.path = name
	if prefix != "" {
		h.path = prefix + "/" + name
	}
	fail := func(format string, a ...any) (header, bool, error) {
		return h, false, entryErr(h.path, ruleErrorf(format, a...))
	}
	// As Tar.jl does, say that a stream whose first block is no tar
	// header is probably not a tar at all (or still compressed).
	notTar := ""
	if !tr.started {
		notTar = "not a tar stream: "
	}
	if v := cstr(b[offVersion : offVersion+lenVersion]); !validVersion(v) {
		return fail("%sinvalid version field %q", notTar, v)
	}
	chk, err := octal(b[offChksum : offChksum+lenChksum])
	if err != nil {
		return fail("checksum field: %v", err)
	}
	var sum int64
	for i, c := range b {
		if i >= offChksum && i < offChksum+lenChksum {
			c = ' '
		}
		sum += int64(c)
	}
	if chk != sum {
		return fail("%sincorrect header checksum %d, want %d", notTar, chk, sum)
	}
	tr.started = true
	if h.size, err = sizeField(b[offSize : offSize+lenSize]); err != nil {
		return fail("size field: %v", err)
	}
	if h.mode, err = octal(b[offMode : offMode+lenMode]); err != nil {
		return fail("mode field: %v", err)
	}
	h.typ = b[offType]
	if h.typ >= 0x80 {
		return fail("invalid type flag %q", h.typ)
	}
	h.link = cstr(b[offLinkname : offLinkname+lenLinkname])
	if h.mode > math.MaxUint16 {
		return fail("mode value too large: %o", h.mode)
	}
	return h, true, nil
}

// readHeader reads the next entry's header, applying pax and GNU
// extension headers. It returns io.EOF at the end of the archive.
func (tr *TarReader) readHeader() (header, error) {
	h, ok, err := tr.readStandard()
	if err != nil {
		return h, err
	}
	if !ok {
		return h, io.EOF
	}
	meta := map[string]string{}
	for k, v := range tr.globals {
		meta[k] = v
	}
	for {
		switch {
		case h.typ == 'x' || h.typ == 'g':
			data, err := tr.readExtended(h)
			if err != nil {
				return h, err
			}
			if err := parsePax(data, func(k, v string) {
				if k == "size" || k == "path" || k == "linkpath" {
					if h.typ == 'g' {
						tr.globals[k] = v
					}
					meta[k] = v
				}
			}); err != nil {
				return h, entryErr(h.path, err)
			}
		case h.path == "././@LongLink" && (h.typ == 'L' || h.typ == 'K'):
			data, err := tr.readExtended(h)
			if err != nil {
				return h, err
			}
			if len(data) == 0 || data[len(data)-1] != 0 {
				return h, entryErr(h.path, ruleErrorf("malformed GNU long header (trailing NUL expected)"))
			}
			key := "path"
			if h.typ == 'K' {
				key = "linkpath"
			}
			meta[key] = string(data[:len(data)-1])
		default:
			return applyMeta(h, meta)
		}
		ext := h.path
		var ok bool
		h, ok, err = tr.readStandard()
		if err != nil {
			return h, err
		}
		if !ok {
			return h, entryErr(ext, fmt.Errorf("extended header without an entry: %w", io.ErrUnexpectedEOF))
		}
	}
}

func applyMeta(h header, meta map[string]string) (header, error) {
	if v, ok := meta["size"]; ok {
		n, ok := decimal(v)
		if !ok {
			return h, entryErr(h.path, ruleErrorf("invalid extended header size value %q", v))
		}
		h.size = n
	}
	if v, ok := meta["path"]; ok {
		h.path = v
	}
	if v, ok := meta["linkpath"]; ok {
		h.link = v
	}
	return h, nil
}

// readExtended reads the data of an extension header.
func (tr *TarReader) readExtended(h header) ([]byte, error) {
	if h.size > maxExtendedHeader {
		return nil, entryErr(h.path, ruleErrorf("extended header of %d bytes exceeds the %d byte limit", h.size, maxExtendedHeader))
	}
	// Grow with the data actually read, not with the declared size.
	padded := roundUp(h.size)
	buf, err := io.ReadAll(io.LimitReader(tr.r, padded))
	if err == nil && int64(len(buf)) < padded {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, entryErr(h.path, fmt.Errorf("reading extended header: %w", err))
	}
	return buf[:h.size], nil
}

// parsePax parses pax records "<len> <key>=<value>\n" with Tar.jl's checks.
func parsePax(data []byte, f func(k, v string)) error {
	malformed := func() error {
		return ruleErrorf("malformed extended header metadata %q", truncate(string(data)))
	}
	for i := 0; i < len(data); {
		j, m := i, 0
		for ; j < len(data) && data[j] != ' '; j++ {
			c := data[j]
			if c < '0' || c > '9' {
				return malformed()
			}
			if m > (math.MaxInt-9)/10 {
				return ruleErrorf("extended header record size too large")
			}
			m = m*10 + int(c-'0')
		}
		if j == len(data) || j == i {
			return malformed()
		}
		end := i + m // one past the record's newline
		if m <= 0 || end > len(data) || end-1 <= j {
			return malformed()
		}
		k := bytes.IndexByte(data[j+1:end-1], '=')
		if k < 0 || data[end-1] != '\n' {
			return malformed()
		}
		k += j + 1
		f(string(data[j+1:k]), string(data[k+1:end-1]))
		i = end
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// accept applies check_header, normalization, the symlink-prefix and
// hard-link rules, and records the entry in the tree. It returns nil for
// the root entry.
func (tr *TarReader) accept(h header) (*Entry, error) {
	// normalize the path, noting a symlink prefix (read_tarball)
	var norm strings.Builder
	norm.Grow(len(h.path))
	var prefixErr error
	rec := int32(0) // the record of the path so far, -1 once no entry named it
	for part := range strings.SplitSeq(h.path, "/") {
		if part == "" || part == "." {
			continue
		}
		if prefixErr == nil && norm.Len() > 0 && rec >= 0 && tr.t.rec(rec).seen == kindSymlink {
			prefixErr = ruleErrorf("path with symlink prefix %q; refusing, possible attack", norm.String())
		}
		if rec >= 0 {
			rec = tr.t.find(rec, part)
		}
		if norm.Len() > 0 {
			norm.WriteByte('/')
		}
		norm.WriteString(part)
	}
	path := norm.String()

	target := int32(-1)
	var targetSize int64
	if prefixErr == nil && h.typ == '1' {
		h.link = normalize(h.link)
		what := tr.t.seenKind(h.link)
		if what != kindFile {
			prefixErr = ruleErrorf("hardlink with %s target %q", what, h.link)
		} else if target = tr.t.lookup(h.link); target < 0 || tr.t.rec(target).kind != kindFile {
			prefixErr = ruleErrorf("hardlink target %q was replaced by a later entry", h.link)
		} else {
			targetSize = tr.t.rec(target).size
		}
	}
	if err := checkHeader(h); err != nil {
		return nil, entryErr(h.path, err)
	}
	if prefixErr != nil {
		return nil, entryErr(h.path, prefixErr)
	}

	tr.entry = Entry{Path: path, Link: h.link, Size: h.size, Exec: h.mode&0o100 != 0}
	e := &tr.entry
	var kind pathKind
	switch h.typ {
	case '0', 0:
		e.Type, kind = TypeFile, kindFile
	case '1':
		e.Type, kind, e.Size = TypeHardlink, kindHardlink, targetSize
	case '2':
		e.Type, kind = TypeSymlink, kindSymlink
	case '5':
		e.Type, kind = TypeDir, kindDir
	}
	if e.Type != TypeFile && e.Type != TypeHardlink {
		e.Exec = false
	}
	tr.cur, tr.target = e, target
	if e.Type == TypeFile {
		tr.remain, tr.pad = h.size, roundUp(h.size)-h.size
	}
	if path == "" {
		tr.t.rec(0).seen = kind
		tr.node = 0
		return nil, nil
	}
	tr.node = tr.t.insert(path, kind, e.Exec, e.Size)
	return e, nil
}

// checkHeader is Tar.jl's check_header.
func checkHeader(h header) error {
	var msgs []string
	bad := func(format string, a ...any) { msgs = append(msgs, fmt.Sprintf(format, a...)) }
	isLink := h.typ == '1' || h.typ == '2'
	if h.path == "" {
		bad("path is empty")
	}
	if strings.IndexByte(h.path, 0) >= 0 {
		bad("path contains NUL bytes")
	}
	if strings.IndexByte(h.link, 0) >= 0 {
		bad("link contains NUL bytes")
	}
	if strings.HasPrefix(h.path, "/") {
		bad("path is absolute")
	}
	if hasDotDot(h.path) {
		bad("path contains '..' component")
	}
	switch h.typ {
	case '0', 0, '1', '2', '5':
	default:
		bad("unsupported entry type %s", typeName(h.typ))
	}
	if !isLink && h.link != "" {
		bad("non-link with link path %q", h.link)
	}
	if isLink && h.link == "" {
		bad("%s with empty link path", typeName(h.typ))
	}
	if isLink && h.size != 0 {
		bad("%s with non-zero size %d", typeName(h.typ), h.size)
	}
	if h.typ == '1' && strings.HasPrefix(h.link, "/") {
		bad("hardlink with absolute link path")
	}
	if h.typ == '1' && hasDotDot(h.link) {
		bad("hardlink contains '..' component")
	}
	if h.typ == '5' && h.size != 0 {
		bad("directory with non-zero size %d", h.size)
	}
	if h.typ != '5' && strings.HasSuffix(h.path, "/") {
		bad("non-directory path ending with '/'")
	}
	if h.typ != '5' && (h.path == "." || strings.HasSuffix(h.path, "/.")) {
		bad("non-directory path ending with '.' component")
	}
	if h.size < 0 {
		bad("negative file size")
	}
	if len(msgs) == 0 {
		return nil
	}
	return &ruleError{msgs}
}

func typeName(t byte) string {
	switch t {
	case '0', 0:
		return "file"
	case '1':
		return "hardlink"
	case '2':
		return "symlink"
	case '3':
		return "character device ('3')"
	case '4':
		return "block device ('4')"
	case '5':
		return "directory"
	case '6':
		return "FIFO ('6')"
	}
	return fmt.Sprintf("%q", t)
}

func hasDotDot(p string) bool {
	for part := range strings.SplitSeq(p, "/") {
		if part == ".." {
			return true
		}
	}
	return false
}

// normalize drops empty and "." components.
func normalize(p string) string {
	var b strings.Builder
	for part := range strings.SplitSeq(p, "/") {
		if part == "" || part == "." {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(part)
	}
	return b.String()
}

func roundUp(n int64) int64 { return (n + blockSize - 1) / blockSize * blockSize }

// cstr returns b up to its first NUL.
func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// validVersion matches `^0* *$`.
func validVersion(v string) bool {
	v = strings.TrimLeft(v, "0")
	return strings.Trim(v, " ") == ""
}

var errNumber = errors.New("malformed number")

// octal parses a numeric field: optional leading spaces, octal digits, then
// NUL, space or the end of the field. At least one digit is required.
func octal(b []byte) (int64, error) {
	var n int64
	digits := false
	for _, c := range b {
		if !digits && c == ' ' {
			continue
		}
		if c == 0 || c == ' ' {
			break
		}
		if c < '0' || c > '7' {
			return 0, fmt.Errorf("%q: %w", b, errNumber)
		}
		if n >= 1<<60 {
			return 0, fmt.Errorf("%q: octal value too large", b)
		}
		n = n<<3 | int64(c-'0')
		digits = true
	}
	if !digits {
		return 0, fmt.Errorf("%q: %w", b, errNumber)
	}
	return n, nil
}

// sizeField parses the size field: octal, or GNU base-256 when the first
// byte is 0x80.
func sizeField(b []byte) (int64, error) {
	switch {
	case b[0]&0x80 == 0:
		return octal(b)
	case b[0] == 0x80:
		var n int64
		for _, c := range b[1:] {
			if n >= 1<<55 {
				return 0, fmt.Errorf("%q: binary value too large", b)
			}
			n = n<<8 | int64(c)
		}
		return n, nil
	}
	return 0, fmt.Errorf("%q: binary value too large", b)
}

// decimal parses a pax size value: decimal digits only, within int64.
func decimal(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' || n > (math.MaxInt64-int64(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
