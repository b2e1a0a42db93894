// Command gqlauth-sdl writes gqlauth's merged GraphQL schema (package
// graph/sdl) to the file named by its argument. `make generate` runs it
// after gqlgen to refresh graph/schema.graphql, the SDL clients and code
// generators read; CI fails when the committed file is out of date.
package main

import (
	"fmt"
	"os"

	"github.com/gqlauth/gqlauth/graph"
	"github.com/gqlauth/gqlauth/graph/sdl"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gqlauth-sdl OUTPUT_FILE")
		os.Exit(2)
	}
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	if err := os.WriteFile(os.Args[1], sdl.Format(schema), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gqlauth-sdl:", err)
		os.Exit(1)
	}
}
