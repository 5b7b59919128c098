package sqlite_test

import (
	"testing"

	"github.com/lobby-dev/lobby/storetest"
)

func TestConformance(t *testing.T) { storetest.Exercise(t, storetest.SQLite.Store) }

func TestMigrations(t *testing.T) { storetest.ExerciseMigrations(t, storetest.SQLite) }

func BenchmarkKnowledgeSearch10k(b *testing.B) {
	storetest.BenchmarkKnowledgeSearch(b, storetest.SQLite, 10_000)
}

func BenchmarkSend(b *testing.B) { storetest.BenchmarkSend(b, storetest.SQLite) }
