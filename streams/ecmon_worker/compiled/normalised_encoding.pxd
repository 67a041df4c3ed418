# C types for the compiled normalised_encoding (setup.py); the .py stays plain Python.
cimport cython

@cython.locals(sign=cython.longlong, z=cython.ulonglong)
cdef void _long(bytearray out, long long n) except *

@cython.locals(b=bytes, raw=bytes, head=bytearray)
cdef void _text(bytearray out, dict seen, str s) except *
