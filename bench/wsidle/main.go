// Command wsidle measures what an idle WebSocket costs a running `lobby serve --dev`:
// it signs in through the dev mailbox, creates a consultant, subscribes with the local
// payment provider, opens N sockets to /api/v1/realtime that each follow the buyer's
// conversation, and reads the server's memory from /metrics before and after. The
// clients live in this process, so the figure is the server's alone.
//
//	go run ./bench/wsidle -url http://127.0.0.1:8090 -n 10000
//
// It talks to loopback only, opens at most -n sockets and stops by itself.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/lobby-dev/lobby/bench/devclient"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:8090", "the server's URL (loopback only)")
	n := flag.Int("n", 10000, "sockets to open (at most 20000)")
	hold := flag.Duration("hold", 0, "keep the sockets open this long after the reading, for a profiler (at most 5m)")
	flag.Parse()
	if err := run(*base, *n, min(*hold, 5*time.Minute)); err != nil {
		fmt.Fprintln(os.Stderr, "wsidle:", err)
		os.Exit(1)
	}
}

func run(base string, n int, hold time.Duration) error {
	dc, err := devclient.New(base, 2, 30*time.Second)
	if err != nil {
		return err
	}
	if n < 1 || n > 20000 {
		return fmt.Errorf("-n must be from 1 to 20000")
	}
	if err := raiseFileLimit(uint64(n) + 256); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute+hold)
	defer cancel()
	c := &client{dc}
	token, cnv, err := c.setup(ctx)
	if err != nil {
		return err
	}
	before, err := c.memory(ctx, time.Now())
	if err != nil {
		return err
	}
	fmt.Printf("before: heap+stacks %d KB, RSS %d KB\n", before.heapStacks/1024, before.rss/1024)

	wsURL := strings.Replace(c.Base, "http", "ws", 1) + "/api/v1/realtime"
	conns := make([]*websocket.Conn, n)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	start := time.Now()
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ws, err := follow(ctx, wsURL, token, cnv)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("socket %d: %w", i, err)
			}
			conns[i] = ws
		}()
	}
	wg.Wait()
	defer func() {
		for _, ws := range conns {
			if ws != nil {
				ws.CloseNow()
			}
		}
	}()
	if firstErr != nil {
		return firstErr
	}
	fmt.Printf("opened %d sockets in %s\n", n, time.Since(start).Round(time.Millisecond))
	after, err := c.memory(ctx, time.Now())
	if err != nil {
		return err
	}
	fmt.Printf("after:  heap+stacks %d KB, RSS %d KB\n", after.heapStacks/1024, after.rss/1024)
	per := func(a, b int64) float64 { return float64(a-b) / 1024 / float64(n) }
	fmt.Printf("per idle socket: heap+stacks %.1f KB (stacks %.1f KB), RSS %.1f KB, goroutines %.2f\n",
		per(after.heapStacks, before.heapStacks), per(after.stacks, before.stacks), per(after.rss, before.rss),
		float64(after.goroutines-before.goroutines)/float64(n))
	time.Sleep(hold)
	runtime.KeepAlive(conns)
	return nil
}

// raiseFileLimit lifts this process's soft open-file limit to at least want.
func raiseFileLimit(want uint64) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	if l.Cur >= want {
		return nil
	}
	if l.Max < want {
		return fmt.Errorf("the open-file limit's hard maximum is %d; %d sockets need %d", l.Max, want-256, want)
	}
	l.Cur = want
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
}

// follow opens one socket and follows the conversation.
func follow(ctx context.Context, wsURL, token, cnv string) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(map[string]string{"type": "subscribe", "conversation_id": cnv})
	if err := ws.Write(dctx, websocket.MessageText, b); err != nil {
		ws.CloseNow()
		return nil, err
	}
	_, msg, err := ws.Read(dctx)
	if err != nil {
		ws.CloseNow()
		return nil, err
	}
	var v struct{ Type string }
	if json.Unmarshal(msg, &v); v.Type != "subscribed" {
		ws.CloseNow()
		return nil, fmt.Errorf("subscribe answered %s", msg)
	}
	// Keep reading, so that the server's pings are answered; the conversation is idle.
	go func() {
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	return ws, nil
}

// setup signs in, creates a consultant, subscribes and starts a conversation; it
// returns the buyer token and the conversation's ID.
func (c *client) setup(ctx context.Context) (string, string, error) {
	user, err := c.SignIn(ctx, fmt.Sprintf("wsidle-%d@example.com", time.Now().UnixNano()))
	if err != nil {
		return "", "", err
	}
	slug := fmt.Sprintf("idle-%d", time.Now().UnixNano()%1e9)
	if _, err := c.Do(ctx, "POST", "/api/v1/consultants", user, map[string]any{"slug": slug, "name": "Idle", "tagline": "Waits",
		"description": "Answers slowly.", "category": "general", "system_prompt": "You are helpful.", "mode": "polling"}, http.StatusCreated); err != nil {
		return "", "", err
	}
	ch, err := c.Do(ctx, "POST", "/api/v1/consultants/"+slug+"/subscribe", user, map[string]string{"tier": "unlimited"}, http.StatusCreated)
	if err != nil {
		return "", "", err
	}
	done, err := c.Do(ctx, "POST", "/api/v1/checkout/"+ch["checkout_id"].(string)+"/complete", user, nil, http.StatusOK)
	if err != nil {
		return "", "", err
	}
	buyer, _ := done["buyer_token"].(string)
	if buyer == "" {
		return "", "", fmt.Errorf("checkout completed without a buyer_token: %v", done)
	}
	sent, err := c.Do(ctx, "POST", "/api/v1/chat", buyer, map[string]any{"message": "hello", "wait_seconds": 0}, http.StatusAccepted)
	if err != nil {
		return "", "", err
	}
	return buyer, sent["conversation_id"].(string), nil
}

type client struct{ *devclient.Client }

type reading struct{ heapStacks, stacks, rss, goroutines int64 }

// memory reads the server's /metrics once it has collected garbage after since: Go
// forces a collection at least every two minutes, so this waits at most about that.
func (c *client) memory(ctx context.Context, since time.Time) (reading, error) {
	deadline := time.Now().Add(150 * time.Second)
	for {
		m, err := c.metrics(ctx)
		if err != nil {
			return reading{}, err
		}
		heap, ok := m["go_memstats_heap_inuse_bytes"]
		if !ok {
			return reading{}, fmt.Errorf("/metrics has no go_memstats_heap_inuse_bytes")
		}
		if gc := m["go_memstats_last_gc_time_seconds"]; gc > float64(since.UnixNano())/1e9 || time.Now().After(deadline) {
			return reading{heapStacks: int64(heap + m["go_memstats_stack_inuse_bytes"]), stacks: int64(m["go_memstats_stack_inuse_bytes"]),
				rss: int64(m["process_resident_memory_bytes"]), goroutines: int64(m["go_goroutines"])}, nil
		}
		time.Sleep(2 * time.Second)
	}
}

func (c *client) metrics(ctx context.Context) (map[string]float64, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", c.Base+"/metrics", nil)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && !strings.HasPrefix(name, "#") {
			m[name], _ = strconv.ParseFloat(value, 64)
		}
	}
	return m, sc.Err()
}
