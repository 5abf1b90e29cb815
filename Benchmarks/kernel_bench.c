/* Times all matrix products of one house-model-shaped forward pass (D 256, H 704, 6 layers, kv 128,
 * vocabulary 1024) through CKernels for n = 1...64 rows, the FMA peak and one stream of the weights.
 * cc -O2 -I Sources/CKernels/include Benchmarks/kernel_bench.c Sources/CKernels/*.c -lpthread -lm -o /tmp/kernel_bench
 * /tmp/kernel_bench THREADS VARIANT   (variant: 0 portable, 1 avx2, 2 avx512) */
#include "hydrakernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(int argc,char**argv){
  int threads=argc>1?atoi(argv[1]):1, variant=argc>2?atoi(argv[2]):2;
  hk_pool*p=hk_pool_create(threads,variant,0);
  int D=256,H=704,L=6,V=1024; // house-ish
  size_t per=(size_t)D*D*2+ (size_t)D*128*2 + (size_t)H*D*3; // rough
  float*w=aligned_alloc(64,sizeof(float)*(per*L+(size_t)V*D)); for(size_t i=0;i<per*L+(size_t)V*D;i++)w[i]=(i%7)*0.01f;
  float*x=calloc(64*1024,4),*y=calloc(64*2048,4);
  int ns[]={1,2,4,8,16,64};
  for(int a=0;a<6;a++){int n=ns[a]; double best=1e9;
    for(int r=0;r<30;r++){double t0=now();
      float*wp=w;
      for(int l=0;l<L;l++){
        hk_segment s3[3]={{wp,D,y,D+256},{wp+D*D,128,y+D,D+256},{wp+D*D+128*D,128,y+D+128,D+256}}; hk_matmul(p,x,D,n,D,s3,3); wp+=D*D+256*D;
        hk_segment so={wp,D,y,D}; hk_matmul(p,x,D,n,D,&so,1); wp+=D*D;
        hk_segment s2[2]={{wp,H,y,2*H},{wp+H*D,H,y+H,2*H}}; hk_matmul(p,x,D,n,D,s2,2); wp+=2*H*D;
        hk_segment s1={wp,D,y,D}; hk_matmul(p,x,H,n,H,&s1,1); wp+=H*D;
      }
      hk_segment sc={wp,V,y,V}; hk_matmul(p,x,D,n,D,&sc,1);
      double t=now()-t0; if(t<best)best=t;}
    printf("n=%d %.3f ms\n",n,best*1e3);}
  printf("peak %.1f GFLOP/s\n", hk_measure_fma_peak(p,5));
  printf("stream %.3f ms for %.1f MB\n", hk_measure_stream(p,w,per*L+(size_t)V*D,20)*1e3, (per*L+(size_t)V*D)*4/1e6);
}
