"""`python -m chatter_site.lib.offline_llm --host 127.0.0.1 --port N`"""
import sys

from chatter_site.lib.offline_llm.server import main

sys.exit(main())
