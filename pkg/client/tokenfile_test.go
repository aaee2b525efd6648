package client

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTokenFileRotation: every kind of replacement is seen by the very
// next call, however little the file's size or time changed.
func TestTokenFileRotation(t *testing.T) {
	for _, tc := range []struct {
		name string
		// kubelet lays the directory out as a projected volume, and swaps
		// its ..data symlink; otherwise the token is a plain file.
		kubelet bool
		replace func(t *testing.T, dir, path, content string)
		want    string
	}{
		{"rename, same size and time", false, renameSameTime, "caller-token-bbbb"},
		{"kubelet's symlink swap, same size and time", true, swapData, "caller-token-bbbb"},
		{"rewritten in place, other size", false, func(t *testing.T, _, path, content string) {
			if err := os.WriteFile(path, []byte(content+"-longer"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "caller-token-bbbb-longer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "token")
			if tc.kubelet {
				setUpAtomicWriter(t, dir, "caller-token-aaaa")
			} else {
				renameSameTime(t, dir, path, "caller-token-aaaa")
			}
			s := newFileTokenSource(path)
			checkToken(t, s, "caller-token-aaaa")

			tc.replace(t, dir, path, "caller-token-bbbb")

			checkToken(t, s, tc.want)
		})
	}
}

// renameSameTime replaces path by rename with a file of the same time as
// every other version: only its identity tells them apart.
func renameSameTime(t *testing.T, dir, path, content string) {
	t.Helper()
	tmp := filepath.Join(dir, ".token.tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, fixedTime, fixedTime); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

var fixedTime = time.Unix(1_700_000_000, 0)

// TestTokenFileUnchangedNotReread: a file whose identity, size and time
// are unchanged is not read again. (Its content is changed here behind
// the stamp's back, which no rotation does, to show the read is skipped.)
func TestTokenFileUnchangedNotReread(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	writeFile(t, path, "caller-token-aaaa")
	s := newFileTokenSource(path)
	checkToken(t, s, "caller-token-aaaa")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}

	if err := os.WriteFile(path, []byte("caller-token-bbbb"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}

	checkToken(t, s, "caller-token-aaaa")
}

// TestTokenFileErrors: a file that cannot be used is an error naming the
// file, never its content; a trailing newline is not part of the token.
func TestTokenFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content string
		want          error
	}{
		{"missing", "", os.ErrNotExist},
		{"empty", "\n", errEmptyTokenFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if tc.name != "missing" {
				writeFile(t, path, tc.content)
			}
			_, err := newFileTokenSource(path).Token()

			var tf *tokenFileError
			if !errors.As(err, &tf) || !errors.Is(err, tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("got %v, want a tokenFileError naming %s and wrapping %v", err, path, tc.want)
			}
		})
	}
	path := filepath.Join(dir, "newline")
	writeFile(t, path, "caller-token-aaaa\n")
	checkToken(t, newFileTokenSource(path), "caller-token-aaaa")
}

// TestNewReadsTokenFile: a client is not built on a token file it cannot
// read.
func TestNewReadsTokenFile(t *testing.T) {
	_, err := New(Config{Server: "https://127.0.0.1:1", TokenFile: filepath.Join(t.TempDir(), "missing")})

	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v, want the missing token file", err)
	}
}

func checkToken(t *testing.T, s *fileTokenSource, want string) {
	t.Helper()
	tok, err := s.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != want || tok.TokenType != "Bearer" {
		t.Fatalf("got %s %q, want Bearer %q", tok.TokenType, tok.AccessToken, want)
	}
}

// setUpAtomicWriter lays dir out as the kubelet lays out a projected
// volume: token -> ..data/token, ..data -> ..<timestamp>.
func setUpAtomicWriter(t *testing.T, dir, content string) {
	t.Helper()
	writeDataDir(t, dir, "..2026_01_01_00_00_00.000000001", content)
	if err := os.Symlink("..2026_01_01_00_00_00.000000001", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "token"), filepath.Join(dir, "token")); err != nil {
		t.Fatal(err)
	}
}

// swapData replaces the token as the kubelet's AtomicWriter does: a new
// timestamped directory, a new ..data_tmp symlink renamed over ..data,
// then the old directory removed.
func swapData(t *testing.T, dir, _, content string) {
	t.Helper()
	old, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil {
		t.Fatal(err)
	}
	next := "..2026_01_01_00_00_00.000000002"
	writeDataDir(t, dir, next, content)
	if err := os.Symlink(next, filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
		t.Fatal(err)
	}
}

func writeDataDir(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.Mkdir(filepath.Join(dir, name), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name, "token"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	// Same time as any other version: only the identity tells them apart.
	if err := os.Chtimes(filepath.Join(dir, name, "token"), fixedTime, fixedTime); err != nil {
		t.Fatal(err)
	}
}
