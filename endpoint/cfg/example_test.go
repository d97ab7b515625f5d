package cfg_test

import (
	"fmt"
	"log"

	"github.com/diracgo/diracrpc/endpoint/cfg"
)

func ExampleParse() {
	c, err := cfg.Parse("dirac.cfg", []byte(`
DIRAC
{
  Setup = Production  # an inline '#' is part of the value
  Configuration
  {
    Servers = dips://cs1.example.org:9135/Configuration/Server
    Servers += dips://cs2.example.org:9135/Configuration/Server
  }
}
`))
	if err != nil {
		log.Fatal(err)
	}
	setup, _ := c.Get("/DIRAC/Setup")
	fmt.Printf("%q\n", setup)
	servers, _ := c.GetList("/DIRAC/Configuration/Servers")
	fmt.Println(len(servers), servers[1])

	_, err = cfg.Parse("broken.cfg", []byte("DIRAC\n{\n  Servers += x\n}\n"))
	fmt.Println(err)
	// Output:
	// "Production  # an inline '#' is part of the value"
	// 2 dips://cs2.example.org:9135/Configuration/Server
	// cfg: broken.cfg:3: += on option "Servers", which has not been declared in this section
}

func ExampleSection_Merge() {
	central := cfg.MustParse("DIRAC\n{\n  Setup = Production\n  VirtualOrganization = vo\n}\n")
	local := cfg.MustParse("DIRAC\n{\n  Setup = Certification\n}\n")
	merged := central.Clone()
	merged.Merge(local) // local options win, as in DIRAC's clients
	fmt.Print(merged)
	// Output:
	// DIRAC
	// {
	//   Setup = Certification
	//   VirtualOrganization = vo
	// }
}
