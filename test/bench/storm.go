package main

import (
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// stormResult is the key-kid storm figure.
type stormResult struct {
	duration     time.Duration
	stormSent    int64
	fetches      int
	windows      int // cooldown windows the storm touched: floor(T/C)+1
	validRPS     float64
	baselineRPS  float64
	validRejects int64
}

// stormRate is random-kid tokens per second during the storm.
const stormRate = 500

var fetchCount = regexp.MustCompile(`tokenfed_keyset_fetches_total\{issuer="hub",result="[a-z_]+"\} (\d+)`)

// keyKidStorm runs valid cached traffic alone, then again while a second
// client floods tokens with random kids, and counts JWKS fetches.
func (e *env) keyKidStorm(valid []byte, d time.Duration) (stormResult, error) {
	tf := e.tokenfed.URL + "/apis/authentication.k8s.io/v1/tokenreviews"
	validTarget := target{url: tf, tls: e.tfTLS, bodies: repeated(valid)}
	base := load(validTarget, true, 16, d, new(atomic.Int64))

	before, err := e.hubFetches()
	if err != nil {
		return stormResult{}, err
	}
	stop := make(chan struct{})
	var sent atomic.Int64
	var wg sync.WaitGroup
	stormTarget := target{url: tf, tls: e.tfTLS}
	c := client(stormTarget, true, 4)
	// The storm is paced: on two cores an unpaced flood measures CPU
	// contention between the two load clients, not what the target is
	// about, which is whether unknown kids turn into key fetches.
	tick := time.NewTicker(time.Second / stormRate)
	defer tick.Stop()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				go func() { _, _, _ = post(c, tf, reviewBody(randomKidToken(e.hub.IssuerURL, sent.Add(1)))) }()
			}
		}
	}()
	during := load(validTarget, true, 16, d, new(atomic.Int64))
	close(stop)
	wg.Wait()
	after, err := e.hubFetches()
	if err != nil {
		return stormResult{}, err
	}
	return stormResult{
		duration: during.elapsed, stormSent: sent.Load(), fetches: after - before,
		windows: int(during.elapsed/kidCooldown) + 1, validRPS: during.rps(), baselineRPS: base.rps(),
		validRejects: during.non200 + during.errors,
	}, nil
}

func (e *env) hubFetches() (int, error) {
	resp, err := e.tokenfed.Client().Get(e.tokenfed.URL + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	total := 0
	for _, m := range fetchCount.FindAllStringSubmatch(string(data), -1) {
		n, _ := strconv.Atoi(m[1])
		total += n
	}
	if !strings.Contains(string(data), "tokenfed_keyset_fetches_total") {
		return 0, io.ErrUnexpectedEOF
	}
	return total, nil
}
