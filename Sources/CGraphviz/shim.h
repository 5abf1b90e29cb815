#include <graphviz/gvc.h>
#include <graphviz/cgraph.h>
/* mallinfo2: heap in use, for measuring what libgvc keeps after each render (hydrasim bench-render). */
#include <malloc.h>
