"""Pure translation library: no mitmproxy, no I/O, no globals.

Each protocol is a package with a codec per direction. Requests and responses
meet in a neutral intermediate representation (`transforms.ir`), so N
protocols need 2N codecs rather than N^2 pairwise translators.
"""
