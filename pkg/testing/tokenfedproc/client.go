package tokenfedproc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"

	"github.com/tokenfed/tokenfed/pkg/testing/secretscan"
)

// maxSentBody bounds how much of a request body is read for its token.
const maxSentBody = 4 << 20

// recordingTransport is Client's transport. It registers every token the
// client sends with secretscan, and appends every response body the caller
// reads to the process's responses file, so the token scan covers what
// tokenfed answered as well as what it logged.
type recordingTransport struct {
	next *http.Transport
	file string
}

func (t *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	registerSentToken(req)
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &teeBody{ReadCloser: resp.Body, file: t.file}
	return resp, nil
}

// registerSentToken registers spec.token of a TokenReview in req's body,
// read from a copy (GetBody) so the request itself is untouched. Tests
// write many tokens inline; this is where all of them pass.
func registerSentToken(req *http.Request) {
	if req.Method != http.MethodPost || req.GetBody == nil {
		return
	}
	body, err := req.GetBody()
	if err != nil {
		return
	}
	defer body.Close()
	var review struct {
		Spec struct {
			Token string `json:"token"`
		} `json:"spec"`
	}
	data, err := io.ReadAll(io.LimitReader(body, maxSentBody))
	if err == nil && json.Unmarshal(data, &review) == nil {
		secretscan.Register(review.Spec.Token, "sent by tokenfedproc.Client")
	}
}

// recordMu serialises appends to responses files, so concurrent bodies do
// not interleave.
var recordMu sync.Mutex

// teeBody keeps what the caller reads and appends it, on Close, as one
// line group to file.
type teeBody struct {
	io.ReadCloser
	file string
	buf  bytes.Buffer
	once sync.Once
}

func (b *teeBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.buf.Write(p[:n])
	return n, err
}

// Close closes the body and records it; a body that could not be recorded
// is an error, as the scan would silently miss it.
func (b *teeBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() {
		if rerr := appendRecord(b.file, b.buf.Bytes()); rerr != nil && err == nil {
			err = fmt.Errorf("recording response body: %w", rerr)
		}
	})
	return err
}

func appendRecord(path string, body []byte) error {
	recordMu.Lock()
	defer recordMu.Unlock()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(body, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// HTTPTransport is the *http.Transport under c, for tests that tune it
// (keep-alives, protocols) or clone it. Changes to it apply to c, which
// keeps recording.
func HTTPTransport(c *http.Client) *http.Transport {
	if rt, ok := c.Transport.(*recordingTransport); ok {
		return rt.next
	}
	return c.Transport.(*http.Transport)
}
