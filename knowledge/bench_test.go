package knowledge_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/embed"
	"github.com/lobby-dev/lobby/knowledge"
	"github.com/lobby-dev/lobby/sqldb"
	"github.com/lobby-dev/lobby/storetest"
)

// benchWords are the words the benchmark's passages and questions are made of.
var benchWords = strings.Fields(`refund shipping customs parcel invoice warranty return order payment delivery
	account password address tracking courier discount voucher subscription cancel upgrade tax deduction mileage
	receipt expense travel insurance claim policy premium coverage kitchen oven freezer bacteria cooling storage
	label allergen gluten dairy rate limit request header token error retry backoff timeout server client
	garden tomato water soil compost seed basil balcony container drainage pest aphid slug ladybird copper
	contract notice salary holiday pension leave manager report budget forecast revenue margin cost price`)

// BenchmarkRetrieve measures the hybrid search of one consultant's knowledge base of
// LOBBY_BENCH_CHUNKS chunks (default 10,000; another consultant has as many), with the
// built-in embedder: p50 and p95 of a question's whole retrieval, embedding included.
func BenchmarkRetrieve(b *testing.B) {
	n := 10_000
	if v, err := strconv.Atoi(os.Getenv("LOBBY_BENCH_CHUNKS")); err == nil && v > 0 {
		n = v
	}
	for _, be := range storetest.Backends() {
		b.Run(fmt.Sprintf("%s/%d", be.Name, n), func(b *testing.B) {
			c := newCorpus(b, be)
			mine := c.consultant(b, "bench", n)
			c.consultant(b, "bench-other", n)
			c.measure(b, mine)
		})
	}
}

// BenchmarkRetrieveAmongTenants measures the same search of one consultant's 1,000
// chunks when 100 consultants have as many each: what a search costs in a marketplace.
func BenchmarkRetrieveAmongTenants(b *testing.B) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			c := newCorpus(b, be)
			mine := c.consultant(b, "tenant-000", 1000)
			for i := 1; i < 100; i++ {
				c.consultant(b, fmt.Sprintf("tenant-%03d", i), 1000)
			}
			c.measure(b, mine)
		})
	}
}

// corpus makes knowledge bases of passages of 150 words from a vocabulary of 5,000
// (each of benchWords in 50 senses, "refund7"): a question's word is in about 3 % of
// them, as a content word of a real knowledge base is. Their vectors are made of the
// plain words.
type corpus struct {
	db  *sqldb.DB
	svc sqldb.Services
	r   *rand.Rand
}

func newCorpus(b *testing.B, be storetest.Backend) *corpus {
	db := be.Open(b)
	return &corpus{db: db, svc: db.Services(), r: rand.New(rand.NewPCG(3, 5))}
}

// text returns words words, as stored and as embedded.
func (c *corpus) text(words int) (string, string) {
	ws, plain := make([]string, words), make([]string, words)
	for i := range ws {
		plain[i] = benchWords[c.r.IntN(len(benchWords))]
		ws[i] = plain[i] + strconv.Itoa(c.r.IntN(50))
	}
	return strings.Join(ws, " "), strings.Join(plain, " ")
}

// consultant makes a consultant with n ready chunks, embedded.
func (c *corpus) consultant(b *testing.B, slug string, n int) *lobby.Consultant {
	ctx := context.Background()
	_, owner := storetest.SignIn(b, c.svc.Auth, slug+"@example.com")
	con := storetest.NewConsultant(owner.ID, slug)
	if _, err := c.svc.Consultants.CreateConsultant(ctx, con, lobby.ValidateOptions{}); err != nil {
		b.Fatal(err)
	}
	for start := 0; start < n; start += 1000 {
		var cs []lobby.Chunk
		var texts []string
		for i := start; i < min(start+1000, n); i++ {
			heading, _ := c.text(2)
			body, plain := c.text(150)
			cs = append(cs, lobby.Chunk{Position: i - start, Heading: heading, Text: body})
			texts = append(texts, plain)
		}
		vs, _ := embed.Words{}.Embed(ctx, texts)
		storetest.ReadyDocument(b, c.svc.Knowledge, con.ID, fmt.Sprint(slug, start), cs, embed.WordsModel, vs)
	}
	return con
}

// measure runs questions against the consultant's knowledge and reports p50 and p95.
func (c *corpus) measure(b *testing.B, mine *lobby.Consultant) {
	ctx := context.Background()
	storetest.Analyze(b, c.db)
	ret := &knowledge.Retriever{Knowledge: c.svc.Knowledge, Embedder: embed.Words{}}
	questions := make([]string, 50)
	for i := range questions {
		what, _ := c.text(3)
		whose, _ := c.text(2)
		questions[i] = "How does the " + what + " work with my " + whose + "?"
	}
	ret.Retrieve(ctx, mine.ID, questions[0], 6) // warm: the first search loads what it keeps
	var took []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		ps, err := ret.Retrieve(ctx, mine.ID, questions[i%len(questions)], 6)
		took = append(took, time.Since(start))
		if err != nil || len(ps) != 6 {
			b.Fatalf("found %d: %v", len(ps), err)
		}
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*95/100].Microseconds())/1000, "p95-ms")
}
