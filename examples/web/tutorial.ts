// MXNet's autograd tutorial (the project's seed notebook), cell by cell,
// running in a Web Worker through `ndgrad/worker`. Each cell has the
// notebook's Python, the same code for ndgrad's worker API (what `run`
// does, shown on the page), and prints what the notebook printed: `stdout`
// for print() calls and `result` for the value the cell displays (Out[n]).
import type { NDWorker, RemoteNDArray } from "ndgrad/worker";

export interface CellOutput {
  stdout: string;
  result?: string;
}

export interface Cell {
  /** The notebook's "In [n]" (0 for the notebook's unnumbered cells). */
  n: number;
  python: string;
  code: string;
  run(ctx: Context): Promise<string | undefined>;
}

/** What the cells share: the worker, the variables, and Python's print(). */
export interface Context {
  w: NDWorker;
  vars: Record<string, RemoteNDArray>;
  print(...values: (RemoteNDArray | number | string)[]): Promise<void>;
}

/** IPython's display of a Python list of NDArrays. */
export async function displayList(items: RemoteNDArray[]): Promise<string> {
  const parts = await Promise.all(items.map(async (a) => (await a.toString()).split("\n").join("\n ")));
  return `[${parts.join(", ")}]`;
}

/** The tutorial's f(a), with its prints: doubles `a` until the norm reaches
 *  1000, then picks an element by the sign of the sum. */
export async function f(ctx: Pick<Context, "print">, a: RemoteNDArray): Promise<RemoteNDArray> {
  let b = a.mul(2);
  while ((await b.norm().asscalar()) < 1000) {
    b = b.mul(2);
    await ctx.print(b);
    await ctx.print(await b.sum().asscalar());
    await ctx.print(await b.norm().asscalar());
  }
  await ctx.print("Done");
  return (await b.sum().asscalar()) >= 0 ? b.at(0) : b.at(1);
}

export const F_CODE = `async function f(a) {
  let b = a.mul(2);
  while ((await b.norm().asscalar()) < 1000) {
    b = b.mul(2);
    await print(b);
    await print(await b.sum().asscalar());
    await print(await b.norm().asscalar());
  }
  await print("Done");
  return (await b.sum().asscalar()) >= 0 ? b.at(0) : b.at(1);
}`;

export const cells: Cell[] = [
  {
    n: 0,
    python: "from mxnet import nd\nfrom mxnet import autograd",
    code: 'import { createWorker } from "ndgrad/worker";\nconst w = await createWorker();\nconst { nd, autograd } = w;',
    run: async () => undefined,
  },
  {
    n: 14,
    python: "X = nd.array([[1, 2], [3, 4]])\nX",
    code: "X = nd.array([[1, 2], [3, 4]]);\nawait X.toString();",
    run: async ({ w, vars }) => {
      vars.X = w.nd.array([[1, 2], [3, 4]]);
      return vars.X.toString();
    },
  },
  {
    n: 0,
    python: "X.attach_grad()",
    code: "X.attachGrad();",
    run: async ({ vars }) => {
      await vars.X!.attachGrad();
      return undefined;
    },
  },
  {
    n: 16,
    python: "X.grad",
    code: "await (await X.grad).toString();",
    run: async ({ vars }) => (await vars.X!.grad)!.toString(),
  },
  {
    n: 17,
    python: "with autograd.record():\n    Y = 2 * X * X\nY",
    code: "Y = await autograd.record(() => nd.mul(2, X).mul(X));\nawait Y.toString();",
    run: async ({ w, vars }) => {
      const X = vars.X!;
      vars.Y = await w.autograd.record(() => w.nd.mul(2, X).mul(X));
      return vars.Y.toString();
    },
  },
  {
    n: 18,
    python:
      'print("Before back-prop")\nprint(X)\nprint(X.grad)\nprint(Y)\nY.backward()\nprint("After back-prop")\nprint(X)\nprint(X.grad)\nprint(Y)',
    code: [
      'await print("Before back-prop");',
      "await print(X);",
      "await print(await X.grad);",
      "await print(Y);",
      "await Y.backward();",
      'await print("After back-prop");',
      "await print(X);",
      "await print(await X.grad);",
      "await print(Y);",
    ].join("\n"),
    run: async ({ vars, print }) => {
      const { X, Y } = vars as { X: RemoteNDArray; Y: RemoteNDArray };
      await print("Before back-prop");
      await print(X);
      await print((await X.grad)!);
      await print(Y);
      await Y.backward();
      await print("After back-prop");
      await print(X);
      await print((await X.grad)!);
      await print(Y);
      return undefined;
    },
  },
  {
    n: 0,
    python:
      'def f(a):\n    b = a * 2\n    while b.norm().asscalar() < 1000:\n        b = b * 2\n        print(b)\n        print(b.sum().asscalar())\n        print(b.norm().asscalar())\n    \n    print("Done")\n    if b.sum().asscalar() >= 0:\n        c = b[0]\n    else:\n        c = b[1]\n    return c',
    code: F_CODE,
    run: async () => undefined,
  },
  {
    n: 90,
    python:
      "a = nd.random.uniform(-1, 1, shape=2)\nprint(a)\na.attach_grad()\nwith autograd.record():\n    c = f(a)\nc.backward()\nc",
    code: [
      "// The notebook's own sample of nd.random.uniform(-1, 1, 2):",
      "a = nd.array([0.9273255, -0.45468742]);",
      "await print(a);",
      "a.attachGrad();",
      "c = await autograd.record(() => f(a));",
      "await c.backward();",
      "await c.toString();",
    ].join("\n"),
    run: async (ctx) => {
      const { w, vars, print } = ctx;
      const a = w.nd.array([0.9273255, -0.45468742]);
      vars.a = a;
      await print(a);
      await a.attachGrad();
      vars.c = await w.autograd.record(() => f(ctx, a));
      await vars.c.backward();
      return vars.c.toString();
    },
  },
  {
    n: 91,
    python: "[a.grad, c/a]",
    code: "await display([await a.grad, c.div(a)]);",
    run: async ({ vars }) => {
      const { a, c } = vars as { a: RemoteNDArray; c: RemoteNDArray };
      return displayList([(await a.grad)!, c.div(a)]);
    },
  },
  {
    n: 0,
    python: "X = nd.array([[2, 4], [7, 5]])",
    code: "X = nd.array([[2, 4], [7, 5]]);",
    run: async ({ w, vars }) => {
      vars.X2 = w.nd.array([[2, 4], [7, 5]]);
      return undefined;
    },
  },
  {
    n: 93,
    python: "X.norm()",
    code: "await X.norm().toString();",
    run: async ({ vars }) => vars.X2!.norm().toString(),
  },
  {
    n: 94,
    python: "X.sum()",
    code: "await X.sum().toString();",
    run: async ({ vars }) => vars.X2!.sum().toString(),
  },
];

/** Runs every cell in order; `onCell` gets each cell's output as it comes. */
export async function runTutorial(
  w: NDWorker,
  onCell: (index: number, out: CellOutput) => void,
): Promise<void> {
  const vars: Record<string, RemoteNDArray> = {};
  await w.nd.scope(async () => {
    for (let i = 0; i < cells.length; i++) {
      let stdout = "";
      const print = async (...values: (RemoteNDArray | number | string)[]): Promise<void> => {
        const parts = await Promise.all(
          values.map((v) => (typeof v === "number" ? w.nd.formatScalar(v) : typeof v === "string" ? v : v.toString())),
        );
        stdout += `${parts.join(" ")}\n`;
      };
      const result = await cells[i]!.run({ w, vars, print });
      onCell(i, result === undefined ? { stdout } : { stdout, result });
    }
    for (const v of Object.values(vars)) v.dispose();
  });
}
