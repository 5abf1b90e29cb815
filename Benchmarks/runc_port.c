// Same-machine baseline for BENCHMARKS.md: the forward pass and greedy loop of llama2.c's run.c
// (plain C loops, no OpenMP, RoPE computed with powf/cosf/sinf per position, attention and
// softmax as in run.c), restated compactly. llama2.c is MIT-licensed, (c) Andrej Karpathy.
// Build: gcc -O3 -o runc_port Benchmarks/runc_port.c -lm
// Run:   NOSTOP=1 ./runc_port model.bin 256   (prints the greedy ids; tokens/s on stderr;
//        NOSTOP=1 keeps going past BOS so every run decodes the same number of tokens)
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
typedef struct { int dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; } Config;
static void rmsnorm(float* o, float* x, float* w, int n){ float ss=0; for(int j=0;j<n;j++) ss+=x[j]*x[j]; ss/=n; ss+=1e-5f; ss=1.0f/sqrtf(ss); for(int j=0;j<n;j++) o[j]=w[j]*(ss*x[j]); }
static void softmax(float* x,int n){ float m=x[0]; for(int i=1;i<n;i++) if(x[i]>m) m=x[i]; float s=0; for(int i=0;i<n;i++){x[i]=expf(x[i]-m); s+=x[i];} for(int i=0;i<n;i++) x[i]/=s; }
static void matmul(float* o,float* x,float* w,int n,int d){ for(int i=0;i<d;i++){ float v=0; for(int j=0;j<n;j++) v+=w[i*n+j]*x[j]; o[i]=v; } }
int main(int argc,char**argv){
  FILE* f=fopen(argv[1],"rb"); Config p; fread(&p,sizeof p,1,f); int shared=p.vocab_size>0; p.vocab_size=abs(p.vocab_size);
  fseek(f,0,SEEK_END); long sz=ftell(f); fseek(f,28,SEEK_SET); float* d=malloc(sz); fread(d,1,sz-28,f); fclose(f);
  int steps=atoi(argv[2]); int dim=p.dim, hd=p.hidden_dim, hs=dim/p.n_heads, kv_dim=dim*p.n_kv_heads/p.n_heads, kv_mul=p.n_heads/p.n_kv_heads, L=p.n_layers, V=p.vocab_size;
  float *ptr=d, *tok=ptr; ptr+=V*dim; float* rms_att=ptr; ptr+=L*dim; float* wq=ptr; ptr+=L*dim*dim; float* wk=ptr; ptr+=L*dim*kv_dim; float* wv=ptr; ptr+=L*dim*kv_dim;
  float* wo=ptr; ptr+=L*dim*dim; float* rms_ffn=ptr; ptr+=L*dim; float* w1=ptr; ptr+=L*dim*hd; float* w2=ptr; ptr+=L*dim*hd; float* w3=ptr; ptr+=L*dim*hd;
  float* rms_final=ptr; ptr+=dim; ptr+=p.seq_len*hs; float* wcls = shared? tok: ptr;
  float *x=calloc(dim,4),*xb=calloc(dim,4),*xb2=calloc(dim,4),*hb=calloc(hd,4),*hb2=calloc(hd,4),*q=calloc(dim,4),*k=calloc(kv_dim,4),*v=calloc(kv_dim,4),*att=calloc(p.n_heads*p.seq_len,4),*logits=calloc(V,4);
  float *kc=calloc((size_t)L*p.seq_len*kv_dim,4),*vc=calloc((size_t)L*p.seq_len*kv_dim,4);
  if(steps>p.seq_len) steps=p.seq_len;
  int token=1,pos=0,next,n=0; double t0=now();
  while(pos<steps){
    memcpy(x,tok+token*dim,dim*4);
    for(int l=0;l<L;l++){
      rmsnorm(xb,x,rms_att+l*dim,dim);
      matmul(q,xb,wq+l*dim*dim,dim,dim); matmul(k,xb,wk+l*dim*kv_dim,dim,kv_dim); matmul(v,xb,wv+l*dim*kv_dim,dim,kv_dim);
      for(int i=0;i<dim;i+=2){ int h_=i%hs; float fr=1.0f/powf(10000.0f,h_/(float)hs); float val=pos*fr; float c=cosf(val),s=sinf(val); int rotn=i<kv_dim?2:1;
        for(int r=0;r<rotn;r++){ float* vec=r==0?q:k; float a=vec[i],b=vec[i+1]; vec[i]=a*c-b*s; vec[i+1]=a*s+b*c; } }
      int loff=l*p.seq_len*kv_dim; memcpy(kc+loff+pos*kv_dim,k,kv_dim*4); memcpy(vc+loff+pos*kv_dim,v,kv_dim*4);
      for(int h=0;h<p.n_heads;h++){ float* qh=q+h*hs; float* a=att+h*p.seq_len;
        for(int t=0;t<=pos;t++){ float* kk=kc+loff+t*kv_dim+(h/kv_mul)*hs; float s=0; for(int i=0;i<hs;i++) s+=qh[i]*kk[i]; a[t]=s/sqrtf(hs); }
        softmax(a,pos+1); float* o=xb+h*hs; memset(o,0,hs*4);
        for(int t=0;t<=pos;t++){ float* vv=vc+loff+t*kv_dim+(h/kv_mul)*hs; for(int i=0;i<hs;i++) o[i]+=a[t]*vv[i]; } }
      matmul(xb2,xb,wo+l*dim*dim,dim,dim); for(int i=0;i<dim;i++) x[i]+=xb2[i];
      rmsnorm(xb,x,rms_ffn+l*dim,dim); matmul(hb,xb,w1+l*dim*hd,dim,hd); matmul(hb2,xb,w3+l*dim*hd,dim,hd);
      for(int i=0;i<hd;i++){ hb[i]=hb[i]*(1.0f/(1.0f+expf(-hb[i]))); hb[i]*=hb2[i]; }
      matmul(xb,hb,w2+l*dim*hd,hd,dim); for(int i=0;i<dim;i++) x[i]+=xb[i];
    }
    rmsnorm(x,x,rms_final,dim); matmul(logits,x,wcls,dim,V);
    int mi=0; float mp=logits[0]; for(int i=1;i<V;i++) if(logits[i]>mp){mi=i;mp=logits[i];} next=mi;
    pos++; if(next==1 && !getenv("NOSTOP")) break; printf(n++?" %d":"%d",next); token=next;
  }
  double dt=now()-t0; printf("\n"); fprintf(stderr,"%d tokens in %.4f s: %.1f tok/s\n",pos,dt,pos/dt); return 0;
}
