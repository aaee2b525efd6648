package secretscan

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// maxLine bounds one log line; a longer one fails the scan rather than
// being skipped unread.
const maxLine = 256 << 20

// Hit is a line that holds part of a token. It names the token by number
// and source, never by value.
type Hit struct {
	File   string
	Line   int
	Token  int // 1-based, in registration order
	Source string
	// Parts are the token's segments the match touches.
	Parts []string
	// Start and End are the matched bytes of the token, of Len.
	Start, End, Len int
}

func (h Hit) String() string {
	return fmt.Sprintf("%s:%d: token #%d (%s): %s, %d bytes (token bytes %d-%d of %d)",
		h.File, h.Line, h.Token, h.Source, strings.Join(h.Parts, "+"), h.End-h.Start, h.Start, h.End, h.Len)
}

// Report is what a scan read and found.
type Report struct {
	Tokens int
	Files  int
	Lines  int
	Bytes  int64
	Hits   []Hit
}

// Scan reads every file and reports each line that holds a segment of a
// registered token or MinMatch bytes of one.
func (r *Registry) Scan(files []string) (Report, error) {
	tokens := r.snapshot()
	idx := newIndex(tokens)
	rep := Report{Tokens: len(tokens)}
	for _, f := range files {
		if err := scanFile(idx, f, &rep); err != nil {
			return rep, err
		}
	}
	sort.Slice(rep.Hits, func(i, j int) bool {
		a, b := rep.Hits[i], rep.Hits[j]
		return a.File < b.File || a.File == b.File && (a.Line < b.Line || a.Line == b.Line && a.Token < b.Token)
	})
	return rep, nil
}

func scanFile(idx *index, path string, rep *Report) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rep.Files++
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		rep.Lines++
		rep.Bytes += int64(len(line)) + 1
		for _, m := range idx.find(line) {
			rep.Hits = append(rep.Hits, idx.hit(path, n, m))
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("scanning %s: %w", path, err)
	}
	return nil
}

func (idx *index) hit(path string, line int, m match) Hit {
	t := idx.tokens[m.tok]
	return Hit{
		File: path, Line: line, Token: int(m.tok) + 1, Source: t.source,
		Parts: parts(t.value, m.start, m.end), Start: m.start, End: m.end, Len: len(t.value),
	}
}

// parts names the segments of token that bytes [start, end) touch.
func parts(token string, start, end int) []string {
	if start == 0 && end == len(token) {
		return []string{"whole token"}
	}
	segs := strings.Split(token, ".")
	names := segmentNames(len(segs))
	var out []string
	off := 0
	for i, s := range segs {
		if start < off+len(s) && end > off {
			out = append(out, names[i])
		}
		off += len(s) + 1
	}
	return out
}

func segmentNames(n int) []string {
	switch n {
	case 1:
		return []string{"opaque token"}
	case 3:
		return []string{"header", "payload", "signature"}
	case 5:
		return []string{"header", "encrypted key", "iv", "ciphertext", "tag"}
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("segment %d", i+1)
	}
	return names
}

// errVacuous: a scan that read nothing proves nothing.
var errVacuous = errors.New("nothing to scan")

// Check scans files and prints the figures and each hit to w. It reports
// false when a token leaked, the scan failed, or it had nothing to scan (no
// token or no log byte), so it can never pass vacuously.
func (r *Registry) Check(w io.Writer, files []string) bool {
	rep, err := r.Scan(files)
	if err == nil && (rep.Tokens == 0 || rep.Bytes == 0) {
		err = fmt.Errorf("%w: %d tokens registered, %d log bytes recorded", errVacuous, rep.Tokens, rep.Bytes)
	}
	fmt.Fprintf(w, "secretscan: %d tokens, %d files, %d lines, %d bytes scanned: %d hits\n", rep.Tokens, rep.Files, rep.Lines, rep.Bytes, len(rep.Hits))
	for _, h := range rep.Hits {
		fmt.Fprintf(w, "secretscan: LEAK %s\n", h)
	}
	if err != nil {
		fmt.Fprintf(w, "secretscan: FAIL: %v\n", err)
	}
	return err == nil && len(rep.Hits) == 0
}
