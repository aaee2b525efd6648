package client

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// fileTokenSource is the caller's own token, read from a file and re-read
// as soon as the file changes. A projected service-account token is
// replaced by the kubelet well before it expires (at 80% of its lifetime),
// by swapping the ..data symlink of the volume; a token mounted from a
// Secret or written by an agent is usually replaced by rename. client-go's
// own file token source (transport.NewCachedFileTokenSource) re-reads at
// most once a minute, so for up to a minute after a swap it sends the old
// token, which may be revoked by then. This one stats the file on every
// request, which costs a syscall, and reads it only when its identity
// (device and inode, which a rename or symlink swap changes), size or
// modification time differ from the last read.
type fileTokenSource struct {
	path string

	mu    sync.Mutex
	stamp fileStamp
	token string
}

// fileStamp identifies one version of a file.
type fileStamp struct {
	dev, ino uint64
	size     int64
	modTime  time.Time
}

// tokenFileError is a caller token file that cannot be used. It names the
// file, never its content.
type tokenFileError struct {
	path string
	err  error
}

func (e *tokenFileError) Error() string {
	return fmt.Sprintf("caller token file %s: %v", e.path, e.err)
}
func (e *tokenFileError) Unwrap() error { return e.err }

var errEmptyTokenFile = errors.New("empty")

// maxTokenFileBytes bounds what is read: a service-account token is about
// 1 KiB, and tokenfed refuses reviews over 1 MiB.
const maxTokenFileBytes = 1 << 20

func newFileTokenSource(path string) *fileTokenSource {
	return &fileTokenSource{path: path}
}

// Token implements oauth2.TokenSource. The token carries no expiry: the
// file is the authority, and it is checked on every call.
func (s *fileTokenSource) Token() (*oauth2.Token, error) {
	tok, err := s.current()
	if err != nil {
		return nil, err
	}
	return &oauth2.Token{AccessToken: tok, TokenType: "Bearer"}, nil
}

func (s *fileTokenSource) current() (string, error) {
	fi, err := os.Stat(s.path) // follows the ..data symlink
	if err != nil {
		return "", &tokenFileError{s.path, err}
	}
	stamp := stampOf(fi)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && stamp == s.stamp {
		return s.token, nil
	}
	tok, err := readToken(s.path)
	if err != nil {
		return "", err
	}
	// The stamp from before the read: should the file change again while
	// it is read, the next call sees a different stamp and reads again.
	s.token, s.stamp = tok, stamp
	return tok, nil
}

func readToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", &tokenFileError{path, err}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTokenFileBytes+1))
	if err != nil {
		return "", &tokenFileError{path, err}
	}
	if len(data) > maxTokenFileBytes {
		return "", &tokenFileError{path, fmt.Errorf("larger than %d bytes", maxTokenFileBytes)}
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", &tokenFileError{path, errEmptyTokenFile}
	}
	return tok, nil
}
