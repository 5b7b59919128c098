// Command loadchat drives a running `lobby serve --dev` with synchronous chat from a
// process of its own: it signs in through the dev mailbox, creates a managed
// consultant, subscribes -buyers buyers with the local payment provider, and then each
// buyer sends POST /api/v1/chat, waiting for the reply, in a loop for -duration. It
// reports round trips a second and their latency, p50 and p99, against the machine's
// floor measured in the same run: half the rate of durable single-row inserts, one
// transaction each, into a scratch table of the same kind of database (-floor).
//
//	go run ./bench/loadchat -url http://127.0.0.1:8091 -floor sqlite:/tmp/floor.db
//
// The server needs --dev (the mailbox and the local provider) and its limits off for
// one client that is everyone: --public-rate-limit 0 --code-rate-limit 0
// --token-rate-limit 0. It talks to loopback only and stops by itself.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/lobby-dev/lobby/bench/devclient"
	_ "modernc.org/sqlite"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:8091", "the server's URL (loopback only)")
	buyers := flag.Int("buyers", 50, "buyers sending at once, each waiting for its reply (at most 1000)")
	duration := flag.Duration("duration", 30*time.Second, "how long the buyers send (at most 10m)")
	floor := flag.String("floor", "", "where to measure the floor: sqlite:PATH (a scratch file, removed after) or the server's postgres:// URL (a temporary table); empty skips it")
	floorTime := flag.Duration("floor-time", 5*time.Second, "how long the floor is measured")
	flag.Parse()
	if err := run(*base, *buyers, min(*duration, 10*time.Minute), *floor, min(*floorTime, time.Minute)); err != nil {
		fmt.Fprintln(os.Stderr, "loadchat:", err)
		os.Exit(1)
	}
}

func run(base string, buyers int, duration time.Duration, floor string, floorTime time.Duration) error {
	if buyers < 1 || buyers > 1000 {
		return fmt.Errorf("-buyers must be from 1 to 1000")
	}
	c, err := devclient.New(base, buyers, 2*time.Minute)
	if err != nil {
		return err
	}
	ctx := context.Background()
	fmt.Fprintf(os.Stderr, "setting up: a consultant and %d buyers\n", buyers)
	tokens, err := setup(ctx, c, buyers)
	if err != nil {
		return err
	}
	var floorRate float64
	if floor != "" {
		if floorRate, err = insertRate(ctx, floor, floorTime); err != nil {
			return fmt.Errorf("floor: %w", err)
		}
	}
	lat, errs, elapsed := load(ctx, c, tokens, duration)
	if len(lat) == 0 {
		return fmt.Errorf("no round trip succeeded (%d failed)", errs)
	}
	slices.Sort(lat)
	rate := float64(len(lat)) / elapsed.Seconds()
	fmt.Printf("buyers %d, %s: %d round trips, %d failed\n", buyers, elapsed.Round(time.Millisecond), len(lat), errs)
	fmt.Printf("round trips a second: %.0f\n", rate)
	fmt.Printf("latency p50 %.2f ms, p99 %.2f ms\n", ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]))
	if floorRate > 0 {
		fmt.Printf("floor: %.0f durable single-row inserts a second, half %.0f; ratio %.2f\n", floorRate, floorRate/2, rate/(floorRate/2))
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// load has every buyer send until duration has passed, and returns each round trip's
// latency and how many failed.
func load(ctx context.Context, c *devclient.Client, tokens []string, duration time.Duration) ([]time.Duration, int64, time.Duration) {
	var (
		mu   sync.Mutex
		all  []time.Duration
		done atomic.Int64
		errs atomic.Int64
		wg   sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(duration)
	stop := make(chan struct{})
	go progress(start, &done, &errs, stop)
	for i, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for n := 0; time.Now().Before(end); n++ {
				t := time.Now()
				if _, err := c.Do(ctx, "POST", "/api/v1/chat", tok, map[string]any{"message": "q" + strconv.Itoa(i) + "." + strconv.Itoa(n)}, http.StatusOK); err != nil {
					if errs.Add(1) == 1 {
						fmt.Fprintln(os.Stderr, "first failure:", err)
					}
					continue
				}
				mine = append(mine, time.Since(t))
				done.Add(1)
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(stop)
	return all, errs.Load(), time.Since(start)
}

// progress prints a line a second: time so far, round trips a second in that second
// and overall.
func progress(start time.Time, done, errs *atomic.Int64, stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last := int64(0)
	for {
		select {
		case <-stop:
			fmt.Fprintln(os.Stderr)
			return
		case now := <-t.C:
			n := done.Load()
			fmt.Fprintf(os.Stderr, "\r%4.0fs  %6d round trips/s now, %6.0f overall, %d failed ", now.Sub(start).Seconds(), n-last,
				float64(n)/now.Sub(start).Seconds(), errs.Load())
			last = n
		}
	}
}

// insertRate measures durable single-row inserts a second, one transaction each, on
// one connection, as BenchmarkInsertFloor does: into a scratch SQLite file with the
// server's settings, or into a temporary table of a PostgreSQL database.
func insertRate(ctx context.Context, where string, d time.Duration) (float64, error) {
	var db *sql.DB
	var err error
	switch {
	case strings.HasPrefix(where, "sqlite:"):
		path := strings.TrimPrefix(where, "sqlite:")
		if _, err := os.Stat(path); err == nil {
			return 0, fmt.Errorf("%s exists; name a scratch file", path)
		}
		defer os.Remove(path)
		defer os.Remove(path + "-wal")
		defer os.Remove(path + "-shm")
		db, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	case strings.HasPrefix(where, "postgres://"), strings.HasPrefix(where, "postgresql://"):
		db, err = sql.Open("pgx", where)
	default:
		return 0, errors.New("-floor must be sqlite:PATH or a postgres:// URL")
	}
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	// A real table, not a TEMP one: PostgreSQL does not write temporary tables to its
	// log, and the floor is a durable insert's.
	table := "loadchat_floor_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := db.ExecContext(ctx, `CREATE TABLE `+table+` (id TEXT PRIMARY KEY, body TEXT)`); err != nil {
		return 0, err
	}
	defer db.ExecContext(context.Background(), `DROP TABLE `+table)
	fmt.Fprintf(os.Stderr, "measuring the floor for %s\n", d)
	start := time.Now()
	n := 0
	for ; time.Since(start) < d; n++ {
		if _, err := db.ExecContext(ctx, `INSERT INTO `+table+` VALUES ($1, $2)`, strconv.Itoa(n), "hello"); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// setup creates a managed consultant with an uncapped plan and returns the buyer
// tokens of n subscriptions to it, one user each.
func setup(ctx context.Context, c *devclient.Client, n int) ([]string, error) {
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	owner, err := c.SignIn(ctx, "loadchat-owner-"+run+"@example.com")
	if err != nil {
		return nil, err
	}
	slug := "load-" + run
	if _, err := c.Do(ctx, "POST", "/api/v1/consultants", owner, map[string]any{"slug": slug, "name": "Load", "tagline": "Answers at once",
		"description": "Answers every message.", "category": "general", "system_prompt": "You are helpful.", "mode": "managed",
		"plans": []map[string]any{{"tier": "open", "price_cents": 1, "message_cap": nil}}}, http.StatusCreated); err != nil {
		return nil, err
	}
	tokens := make([]string, n)
	for i := range tokens {
		user, err := c.SignIn(ctx, fmt.Sprintf("loadchat-%s-%d@example.com", run, i))
		if err != nil {
			return nil, err
		}
		ch, err := c.Do(ctx, "POST", "/api/v1/consultants/"+slug+"/subscribe", user, map[string]string{"tier": "open"}, http.StatusCreated)
		if err != nil {
			return nil, err
		}
		done, err := c.Do(ctx, "POST", "/api/v1/checkout/"+ch["checkout_id"].(string)+"/complete", user, nil, http.StatusOK)
		if err != nil {
			return nil, err
		}
		if tokens[i], _ = done["buyer_token"].(string); tokens[i] == "" {
			return nil, fmt.Errorf("checkout completed without a buyer_token: %v", done)
		}
	}
	return tokens, nil
}
