"""bench-publish: the Python + npm image's "application"."""
import pathlib
import subprocess

import requests
import yaml

here = pathlib.Path(__file__).parent
print("bench-publish app image", (here / "VERSION").read_text().strip())
print("requests", requests.__version__, "PyYAML", yaml.__version__)
subprocess.run(["node", "-e", "console.log('lodash', require('lodash').VERSION)"],
               cwd=here.parent, check=True)
