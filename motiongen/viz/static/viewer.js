// motiongen viewer: plays the cases of a manifest (motiongen/viz/manifest.py) with three.js.
// World: Y up, +Z forward, metres; frames at manifest.fps. Motions come from /api/motion as
// joint positions [T, J, 3] plus parents, so any skeleton draws as bones between joints. A Unitree G1
// motion also brings its global joint rotations, and is drawn with the robot's meshes
// (/api/g1-meshes, motiongen/viz/g1_meshes.py) when the server has them.
import * as THREE from './vendor/three/three.module.js';
import { OrbitControls } from './vendor/three/OrbitControls.js';

const BONE_RADIUS = 0.018;
const JOINT_RADIUS = 0.026;
const RAIL_WIDTH = 0.05;
const FLOOR_LIFT = 0.004;         // overlays sit just above the grid so they are not z-fighting it
const MIN_SLOT_SPACING = 1.5;     // metres between side-by-side panels
const STATS_WINDOW = 240;         // requestAnimationFrame intervals kept for stats()
const MESH_TINT = 0.45;           // how far a G1 mesh's own colour moves toward its panel's colour

const $ = (id) => document.getElementById(id);

function setText(element, text) {
  // DOM writes cost a style and layout pass on every played frame: write only what changed
  if (element.textContent !== text) element.textContent = text;
}

const state = {
  manifest: null,
  cases: [],
  current: null,        // the selected case entry
  figures: [],          // {panel, motion, figure, slot}
  frame: 0,
  numFrames: 1,
  time: 0,              // seconds into the case
  playing: false,
  speed: 1,
  loop: true,
  layout: 'side',
  follow: true,
  overlays: true,
  skeleton: true,       // bones and joints of figures drawn with meshes (other figures always show them)
  meshes: true,         // G1 meshes where available
  meshNote: '',         // why a G1 motion is drawn as a skeleton, '' when its meshes are drawn
  ready: false,         // a case is loaded and drawn
  renders: 0,
  loadToken: 0,
};
const rafIntervals = [];

// ------------------------------------------------------------------------------------------------
// three.js scene
function softwareWebGL() {
  // SwiftShader / llvmpipe (no GPU, e.g. headless Chromium with --disable-gpu): multisampling costs
  // them about half the frame rate, so it is left off there
  try {
    const gl = document.createElement('canvas').getContext('webgl2');
    if (!gl) return false;
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const name = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
    const lose = gl.getExtension('WEBGL_lose_context');
    if (lose) lose.loseContext();
    return /swiftshader|llvmpipe|softpipe|software/i.test(name);
  } catch (err) {
    return false;
  }
}
const SOFTWARE_GL = softwareWebGL();
const renderer = new THREE.WebGLRenderer({ antialias: !SOFTWARE_GL });
renderer.setPixelRatio(SOFTWARE_GL ? 1 : Math.min(window.devicePixelRatio || 1, 2));
$('view').appendChild(renderer.domElement);
const scene = new THREE.Scene();
scene.background = new THREE.Color('#15181e');
const camera = new THREE.PerspectiveCamera(45, 1, 0.05, 200);
camera.position.set(0, 2.2, 5.5);
const controls = new OrbitControls(camera, renderer.domElement);
controls.target.set(0, 0.9, 0);
controls.enableDamping = false;
controls.update();
scene.add(new THREE.HemisphereLight('#ffffff', '#404650', 2.2));
const sun = new THREE.DirectionalLight('#ffffff', 1.6);
sun.position.set(3, 6, 4);
scene.add(sun);
const grid = new THREE.GridHelper(40, 80, '#3a4150', '#262b35');
scene.add(grid);

// software WebGL spends its time on vertices: coarser bones and joints there (about 2x the frame rate)
const boneGeometry = SOFTWARE_GL ? new THREE.CylinderGeometry(1, 1, 1, 6, 1, true) : new THREE.CylinderGeometry(1, 1, 1, 10, 1);
boneGeometry.translate(0, 0.5, 0);   // unit bone from y = 0 to y = 1, scaled per bone
const jointGeometry = SOFTWARE_GL ? new THREE.SphereGeometry(1, 8, 5) : new THREE.SphereGeometry(1, 16, 10);

function resize() {
  const box = $('view').getBoundingClientRect();
  const w = Math.max(1, Math.floor(box.width));
  const h = Math.max(1, Math.floor(box.height));
  renderer.setSize(w, h, false);
  renderer.domElement.style.width = `${w}px`;
  renderer.domElement.style.height = `${h}px`;
  camera.aspect = w / h;
  camera.updateProjectionMatrix();
}
new ResizeObserver(resize).observe($('view'));
resize();

// ------------------------------------------------------------------------------------------------
// data
async function fetchJSON(url) {
  const response = await fetch(url);
  let body = null;
  try { body = await response.json(); } catch (err) { body = null; }
  if (!response.ok) throw new Error((body && body.error) || `${url}: HTTP ${response.status}`);
  return body;
}

function decodePositions(b64) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}

async function loadMotion(file) {
  const data = await fetchJSON(`/api/motion?path=${encodeURIComponent(file)}`);
  data.positions = decodePositions(data.positions_b64);
  delete data.positions_b64;
  if (data.rotations_b64) {   // G1: quaternions [T, J, 4] in three.js order (x, y, z, w)
    data.rotations = decodePositions(data.rotations_b64);
    delete data.rotations_b64;
  }
  return data;
}

// ------------------------------------------------------------------------------------------------
// the G1's meshes: fetched once, shared by every G1 figure
const g1Library = { promise: null };

function decodeMesh(buffer, name) {
  // layout of motiongen.viz.g1_meshes.mesh_buffer: b"MGM1", uint32 V, F, index bytes; positions; indices
  const head = new DataView(buffer);
  const magic = String.fromCharCode(...new Uint8Array(buffer, 0, 4));
  if (magic !== 'MGM1') throw new Error(`G1 mesh '${name}': not a mesh buffer`);
  const v = head.getUint32(4, true);
  const f = head.getUint32(8, true);
  const indexBytes = head.getUint32(12, true);
  const positions = new Float32Array(buffer, 16, 3 * v);
  const Index = indexBytes === 2 ? Uint16Array : Uint32Array;
  const index = new Index(buffer, 16 + 12 * v, 3 * f);
  const geometry = new THREE.BufferGeometry();
  geometry.setAttribute('position', new THREE.BufferAttribute(positions, 3));
  geometry.setIndex(new THREE.BufferAttribute(index, 1));
  geometry.computeBoundingSphere();
  return geometry;
}

function primitiveGeometry(geom) {
  // MuJoCo primitives in our axes: cylinders and capsules along local Y, sizes as halves
  const [a, b, c] = geom.dimensions;
  if (geom.kind === 'cylinder') return new THREE.CylinderGeometry(a, a, 2 * b, 20);
  if (geom.kind === 'capsule') return new THREE.CapsuleGeometry(a, 2 * b, 4, 12);
  if (geom.kind === 'sphere') return new THREE.SphereGeometry(a, 16, 10);
  if (geom.kind === 'box') return new THREE.BoxGeometry(2 * a, 2 * b, 2 * c);
  return null;
}

async function fetchG1Library() {
  const manifest = await fetchJSON('/api/g1-meshes');
  if (!manifest.available) return { available: false, reason: manifest.reason };
  const names = Object.keys(manifest.meshes);
  const buffers = await Promise.all(names.map(async (name) => {
    const response = await fetch(manifest.meshes[name].url);
    if (!response.ok) throw new Error(`mesh '${name}': HTTP ${response.status}`);
    return response.arrayBuffer();
  }));
  const geometries = new Map(names.map((name, i) => [name, decodeMesh(buffers[i], name)]));
  const geoms = manifest.geoms.map((g) => ({
    ...g,
    geometry: g.kind === 'mesh' ? geometries.get(g.mesh) : primitiveGeometry(g),
  })).filter((g) => g.geometry);
  return { available: true, reason: '', geoms };
}

function loadG1Library() {
  // a failure is not an error of the page: G1 motions are then drawn as skeletons, with a note
  if (!g1Library.promise) {
    g1Library.promise = fetchG1Library().catch((err) => ({ available: false, reason: err.message }));
  }
  return g1Library.promise;
}

function wantsG1Meshes(motion, ghost) {
  return motion.skeleton === 'g1' && !ghost;
}

function inRanges(frame, ranges) {
  for (const [a, b] of ranges) if (frame >= a && frame < b) return true;
  return false;
}

// ------------------------------------------------------------------------------------------------
// a skeleton: instanced cylinders between each joint and its parent, spheres on the joints
class Figure {
  // ``ghost``: drawn thicker and translucent, so a pose that coincides with another shows around it
  constructor(motion, color, ghost = false) {
    this.motion = motion;
    this.color = color;
    this.group = new THREE.Group();
    this.bodies = [];         // G1: {joint, group} per joint that carries meshes
    this.meshMaterials = [];
    this.scale = ghost ? 1.9 : 1;
    const material = new THREE.MeshLambertMaterial({ color });
    if (ghost) Object.assign(material, { transparent: true, opacity: 0.45, depthWrite: false });
    this.bones = motion.parents.map((p, j) => [p, j]).filter(([p]) => p >= 0);
    this.boneMesh = new THREE.InstancedMesh(boneGeometry, material, Math.max(1, this.bones.length));
    this.boneMesh.count = this.bones.length;
    this.jointMesh = new THREE.InstancedMesh(jointGeometry, material, motion.joints);
    for (const mesh of [this.boneMesh, this.jointMesh]) {
      mesh.frustumCulled = false;   // instances move far from the geometry's bounds
      this.group.add(mesh);
    }
    this.tmp = { a: new THREE.Vector3(), b: new THREE.Vector3(), d: new THREE.Vector3(), q: new THREE.Quaternion(),
      s: new THREE.Vector3(), m: new THREE.Matrix4(), up: new THREE.Vector3(0, 1, 0) };
  }

  // a Group per G1 joint holding its meshes at their fixed place in the joint's frame; the group itself
  // takes the joint's position and global rotation each frame
  attachMeshes(library) {
    const index = new Map(this.motion.joint_names.map((name, j) => [name, j]));
    const materials = new Map();
    const tint = new THREE.Color(this.color);
    const material = (rgba) => {
      const key = rgba.join(',');
      if (!materials.has(key)) {
        const color = new THREE.Color(rgba[0], rgba[1], rgba[2]).lerp(tint, MESH_TINT);
        // flat shading: the CAD meshes have hard edges and no normals are sent
        const m = new THREE.MeshLambertMaterial({ color, flatShading: true });
        if (rgba[3] < 1) Object.assign(m, { transparent: true, opacity: rgba[3] });
        materials.set(key, m);
        this.meshMaterials.push(m);
      }
      return materials.get(key);
    };
    const groups = new Map();
    for (const geom of library.geoms) {
      const j = index.get(geom.joint);
      if (j === undefined) continue;
      if (!groups.has(j)) {
        const group = new THREE.Group();
        groups.set(j, group);
        this.bodies.push({ joint: j, group });
        this.group.add(group);
      }
      const mesh = new THREE.Mesh(geom.geometry, material(geom.rgba));
      mesh.position.fromArray(geom.position);
      mesh.quaternion.fromArray(geom.quaternion);
      mesh.scale.fromArray(geom.scale);
      groups.get(j).add(mesh);
    }
    this.setVisibility(state.skeleton, state.meshes);
  }

  get hasMeshes() {
    return this.bodies.length > 0;
  }

  setVisibility(skeleton, meshes) {
    const showMeshes = meshes && this.hasMeshes;
    for (const body of this.bodies) body.group.visible = showMeshes;
    const showBones = skeleton || !showMeshes;
    this.boneMesh.visible = showBones;
    this.jointMesh.visible = showBones;
  }

  joint(frame, j, out) {
    const f = Math.min(frame, this.motion.frames - 1);
    const k = (f * this.motion.joints + j) * 3;
    const p = this.motion.positions;
    return out.set(p[k], p[k + 1], p[k + 2]);
  }

  setFrame(frame) {
    const { a, b, d, q, s, m, up } = this.tmp;
    for (let j = 0; j < this.motion.joints; j++) {
      this.joint(frame, j, a);
      const r = JOINT_RADIUS * this.scale;
      m.makeScale(r, r, r).setPosition(a);
      this.jointMesh.setMatrixAt(j, m);
    }
    this.bones.forEach(([p, j], i) => {
      this.joint(frame, p, a);
      this.joint(frame, j, b);
      d.subVectors(b, a);
      const length = d.length();
      if (length > 1e-6) q.setFromUnitVectors(up, d.multiplyScalar(1 / length)); else q.identity();
      s.set(BONE_RADIUS * this.scale, Math.max(length, 1e-6), BONE_RADIUS * this.scale);
      m.compose(a, q, s);
      this.boneMesh.setMatrixAt(i, m);
    });
    this.jointMesh.instanceMatrix.needsUpdate = true;
    this.boneMesh.instanceMatrix.needsUpdate = true;
    if (this.hasMeshes) {
      const f = Math.min(frame, this.motion.frames - 1);
      const r = this.motion.rotations;
      for (const { joint, group } of this.bodies) {
        this.joint(f, joint, group.position);
        const k = (f * this.motion.joints + joint) * 4;
        group.quaternion.set(r[k], r[k + 1], r[k + 2], r[k + 3]);
      }
    }
  }

  dispose() {
    for (const m of this.meshMaterials) m.dispose();   // the geometries are shared by every G1 figure
    this.boneMesh.material.dispose();
    this.boneMesh.dispose();
    this.jointMesh.dispose();
  }
}

// ------------------------------------------------------------------------------------------------
// overlays of the current case, in the overlay slot's frame
const overlay = {
  group: new THREE.Group(),
  cursor: null,
  rootFrames: [],
  rootPoints: [],
  targets: [],          // {group, byFrame: Map(frame -> [x, y, z])}
  disposables: [],
};
scene.add(overlay.group);

function flatMaterial(color, extra = {}) {
  const material = new THREE.MeshBasicMaterial({ color, side: THREE.DoubleSide, ...extra });
  overlay.disposables.push(material);
  return material;
}

function ribbonGeometry(points, width) {
  // a flat strip on the floor along the (x, z) polyline
  const vertices = [];
  const index = [];
  for (let i = 0; i < points.length; i++) {
    const prev = points[Math.max(i - 1, 0)];
    const next = points[Math.min(i + 1, points.length - 1)];
    let dx = next[0] - prev[0];
    let dz = next[1] - prev[1];
    const len = Math.hypot(dx, dz) || 1;
    dx /= len; dz /= len;
    const nx = -dz * width / 2;
    const nz = dx * width / 2;
    vertices.push(points[i][0] + nx, FLOOR_LIFT, points[i][1] + nz, points[i][0] - nx, FLOOR_LIFT, points[i][1] - nz);
    if (i > 0) {
      const k = 2 * i;
      index.push(k - 2, k - 1, k, k - 1, k + 1, k);
    }
  }
  const geometry = new THREE.BufferGeometry();
  geometry.setAttribute('position', new THREE.Float32BufferAttribute(vertices, 3));
  geometry.setIndex(index);
  overlay.disposables.push(geometry);
  return geometry;
}

function disc(radius, color, y = FLOOR_LIFT * 2) {
  const geometry = new THREE.CircleGeometry(radius, 32);
  geometry.rotateX(-Math.PI / 2);
  overlay.disposables.push(geometry);
  const mesh = new THREE.Mesh(geometry, flatMaterial(color));
  mesh.position.y = y;
  return mesh;
}

function ring(inner, outer, color) {
  const geometry = new THREE.RingGeometry(inner, outer, 40);
  geometry.rotateX(-Math.PI / 2);
  overlay.disposables.push(geometry);
  const mesh = new THREE.Mesh(geometry, flatMaterial(color));
  mesh.position.y = FLOOR_LIFT * 3;
  return mesh;
}

function clearOverlay() {
  overlay.group.clear();
  for (const item of overlay.disposables) item.dispose();
  overlay.disposables = [];
  overlay.cursor = null;
  overlay.rootFrames = [];
  overlay.rootPoints = [];
  overlay.targets = [];
}

function buildOverlay(entry, colors) {
  clearOverlay();
  const over = entry.condition_overlays || {};
  const root = over.root_trajectory;
  if (root && root.frames.length) {
    overlay.rootFrames = root.frames;
    overlay.rootPoints = root.points;
    if (root.points.length > 1) {
      overlay.group.add(new THREE.Mesh(ribbonGeometry(root.points, RAIL_WIDTH), flatMaterial(colors.root_path)));
    }
    if (!root.dense) {
      for (const [x, z] of root.points) {
        const dot = disc(0.05, colors.root_path);
        dot.position.x = x; dot.position.z = z;
        overlay.group.add(dot);
      }
    }
    const [sx, sz] = root.points[0];
    const [ex, ez] = root.points[root.points.length - 1];
    const start = disc(0.09, colors.root_start, FLOOR_LIFT * 3);
    start.position.x = sx; start.position.z = sz;
    const end = disc(0.09, colors.root_end, FLOOR_LIFT * 3);
    end.position.x = ex; end.position.z = ez;
    overlay.cursor = ring(0.1, 0.14, colors.cursor);
    overlay.cursor.position.y = FLOOR_LIFT * 4;
    overlay.group.add(start, end, overlay.cursor);
  }
  for (const target of over.joint_targets || []) {
    const group = new THREE.Group();
    const anchorGeometry = new THREE.SphereGeometry(0.035, 16, 12);
    const lineGeometry = new THREE.CylinderGeometry(0.006, 0.006, 1, 6);
    lineGeometry.translate(0, 0.5, 0);
    overlay.disposables.push(anchorGeometry, lineGeometry);
    const anchor = new THREE.Mesh(anchorGeometry, flatMaterial(colors.joint_target));
    const locator = new THREE.Mesh(lineGeometry, flatMaterial(colors.joint_target, { transparent: true, opacity: 0.7 }));
    const floorRing = ring(0.06, 0.085, colors.joint_target);
    group.add(anchor, locator, floorRing);
    group.visible = false;
    const byFrame = new Map();
    target.frames.forEach((f, k) => byFrame.set(f, target.positions[k]));
    overlay.targets.push({ group, anchor, locator, floorRing, byFrame, joint: target.joint });
    overlay.group.add(group);
  }
}

function rootAt(frame) {
  // the root target at ``frame``: linear between the listed frames, held before / after them
  const frames = overlay.rootFrames;
  const points = overlay.rootPoints;
  if (!frames.length) return null;
  if (frame <= frames[0]) return points[0];
  if (frame >= frames[frames.length - 1]) return points[points.length - 1];
  let lo = 0;
  let hi = frames.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (frames[mid] <= frame) lo = mid; else hi = mid;
  }
  const t = (frame - frames[lo]) / (frames[hi] - frames[lo]);
  return [points[lo][0] + t * (points[hi][0] - points[lo][0]), points[lo][1] + t * (points[hi][1] - points[lo][1])];
}

function updateOverlay(frame) {
  overlay.group.visible = state.overlays;
  if (overlay.cursor) {
    const p = rootAt(frame);
    overlay.cursor.position.x = p[0];
    overlay.cursor.position.z = p[1];
  }
  for (const t of overlay.targets) {
    const p = t.byFrame.get(frame);
    t.group.visible = p !== undefined;
    if (p === undefined) continue;
    t.anchor.position.set(p[0], p[1], p[2]);
    t.locator.position.set(p[0], 0, p[2]);
    t.locator.scale.set(1, Math.max(p[1], 1e-3), 1);
    t.floorRing.position.x = p[0];
    t.floorRing.position.z = p[2];
  }
}

// ------------------------------------------------------------------------------------------------
const inset = { key: null, background: null, toPx: null };

function insetPaths() {
  return state.figures.filter((f) => f.visibleNow).map((f) => {
    const pts = [];
    const step = Math.max(1, Math.floor(f.motion.frames / 200));
    for (let t = 0; t < f.motion.frames; t += step) {
      const k = t * f.motion.joints * 3;
      pts.push([f.motion.positions[k], f.motion.positions[k + 2]]);
    }
    return { color: f.panel.color, pts };
  });
}

function drawInsetBackground(canvas, showRail) {
  // the still part (pelvis paths, rail, start and end dots), drawn once per case and panel set
  const w = canvas.width;
  const h = canvas.height;
  const colors = state.manifest.overlay_colors;
  const paths = insetPaths();
  const all = paths.flatMap((p) => p.pts).concat(showRail ? overlay.rootPoints : []);
  const layer = document.createElement('canvas');
  layer.width = w;
  layer.height = h;
  const ctx = layer.getContext('2d');
  if (!all.length) return { layer, toPx: null };
  let minX = Infinity, maxX = -Infinity, minZ = Infinity, maxZ = -Infinity;
  for (const [x, z] of all) { minX = Math.min(minX, x); maxX = Math.max(maxX, x); minZ = Math.min(minZ, z); maxZ = Math.max(maxZ, z); }
  const span = Math.max(maxX - minX, maxZ - minZ, 1.0) * 1.15;
  const cx = (minX + maxX) / 2;
  const cz = (minZ + maxZ) / 2;
  // seen from above, turned like the 3D view's starting camera (which looks along -Z): +X to the
  // right, -Z up
  const toPx = ([x, z]) => [w / 2 + (x - cx) / span * w, h / 2 + (z - cz) / span * h];
  const stroke = (pts, color, width) => {
    if (pts.length < 2) return;
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.beginPath();
    pts.forEach((p, i) => { const [u, v] = toPx(p); if (i) ctx.lineTo(u, v); else ctx.moveTo(u, v); });
    ctx.stroke();
  };
  if (showRail) stroke(overlay.rootPoints, colors.root_path, 4);
  for (const p of paths) stroke(p.pts, p.color, 1.5);
  if (showRail) {
    insetDot(ctx, toPx(overlay.rootPoints[0]), colors.root_start, 5);
    insetDot(ctx, toPx(overlay.rootPoints[overlay.rootPoints.length - 1]), colors.root_end, 5);
  }
  return { layer, toPx };
}

function insetDot(ctx, [u, v], color, r) {
  ctx.fillStyle = color;
  ctx.beginPath();
  ctx.arc(u, v, r, 0, 2 * Math.PI);
  ctx.fill();
}

// the top-down inset: pelvis paths of the panels, the root rail and the cursor
function drawInset() {
  const canvas = $('inset');
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!state.current) return;
  const showRail = state.overlays && overlay.rootPoints.length > 0;
  const key = `${state.current.id}|${showRail}|${state.figures.map((f) => f.visibleNow ? 1 : 0).join('')}`;
  if (inset.key !== key) {
    Object.assign(inset, drawInsetBackground(canvas, showRail), { key });
  }
  if (!inset.toPx) return;
  ctx.drawImage(inset.layer, 0, 0);
  const colors = state.manifest.overlay_colors;
  if (showRail) {
    const [u, v] = inset.toPx(rootAt(state.frame));
    ctx.strokeStyle = colors.cursor;
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.arc(u, v, 7, 0, 2 * Math.PI);
    ctx.stroke();
  }
  for (const f of state.figures) {
    if (!f.visibleNow) continue;
    const t = Math.min(state.frame, f.motion.frames - 1);
    const k = t * f.motion.joints * 3;
    insetDot(ctx, inset.toPx([f.motion.positions[k], f.motion.positions[k + 2]]), f.panel.color, 3.5);
  }
}

// ------------------------------------------------------------------------------------------------
// case list, legend, timeline marks, diagnostics
function captionOf(entry) {
  return entry.captions && entry.captions.length ? entry.captions.join(' / ') : '(no caption)';
}

function renderCaseList() {
  const list = $('cases');
  list.textContent = '';
  for (const entry of state.cases) {
    const li = document.createElement('li');
    li.dataset.id = entry.id;
    li.className = 'case';
    const task = document.createElement('span');
    task.className = 'task';
    task.textContent = entry.task || '';
    const id = document.createElement('div');
    id.className = 'case-id';
    id.textContent = entry.id;
    const caption = document.createElement('div');
    caption.className = 'case-caption';
    caption.textContent = captionOf(entry);
    li.append(task, id, caption);
    li.addEventListener('click', () => selectCase(entry.id));
    list.appendChild(li);
  }
  applySearch();
}

function applySearch() {
  const q = $('search').value.trim().toLowerCase();
  let shown = 0;
  for (const li of $('cases').children) {
    const entry = state.cases.find((c) => c.id === li.dataset.id);
    const text = `${entry.id} ${entry.task || ''} ${captionOf(entry)}`.toLowerCase();
    const hit = !q || q.split(/\s+/).every((word) => text.includes(word));
    li.classList.toggle('hidden', !hit);
    if (hit) shown++;
  }
  $('case-count').textContent = `${shown} of ${state.cases.length} cases`;
}

function renderLegend(entry) {
  const legend = $('panel-legend');
  legend.textContent = '';
  const missing = entry.missing_panels || {};
  for (const panel of state.manifest.panels) {
    const li = document.createElement('li');
    li.dataset.panel = panel.name;
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = panel.color;
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = panel.label || panel.name;
    const role = document.createElement('span');
    role.className = 'role';
    role.textContent = panel.role;
    li.append(swatch, name, role);
    if (panel.name in missing) {
      li.classList.add('missing');
      const reason = document.createElement('span');
      reason.className = 'reason';
      reason.textContent = `missing: ${missing[panel.name]}`;
      li.appendChild(reason);
    }
    legend.appendChild(li);
  }
}

function renderMarks(entry) {
  const marks = $('marks');
  marks.textContent = '';
  const last = Math.max(entry.num_frames - 1, 1);
  const pos = (f) => `${(100 * f) / last}%`;
  const sem = entry.frame_semantics || {};
  for (const [a, b] of sem.continuous || []) {
    const bar = document.createElement('div');
    bar.className = 'cont';
    bar.style.left = pos(a);
    bar.style.width = `${(100 * Math.max(b - 1 - a, 0.5)) / last}%`;
    bar.title = `continuous control, frames ${a}-${b - 1}`;
    marks.appendChild(bar);
  }
  const keys = new Set([...(sem.keyframes || []), ...((entry.condition_overlays || {}).keyframes || [])]);
  for (const f of [...keys].sort((x, y) => x - y)) {
    const tick = document.createElement('div');
    tick.className = 'kf';
    tick.style.left = pos(f);
    tick.title = `keyframe ${f}`;
    marks.appendChild(tick);
  }
  for (const [a] of (entry.segments || []).slice(1)) {
    const tick = document.createElement('div');
    tick.className = 'seg';
    tick.style.left = pos(a);
    marks.appendChild(tick);
  }
}

function renderDiagnostics(entry) {
  const box = $('diagnostics');
  box.textContent = '';
  const diag = entry.diagnostics || {};
  const keys = Object.keys(diag);
  if (!keys.length) return;
  for (const key of keys) {
    const value = diag[key];
    const head = document.createElement('h3');
    head.textContent = key.replaceAll('_', ' ');
    box.appendChild(head);
    const table = document.createElement('table');
    table.dataset.diagnostic = key;
    if (key === 'continuity' && value && Array.isArray(value.frames)) {
      table.innerHTML = '<tr><th>frame</th><th>largest jump (m)</th><th>joint</th><th>x typical</th></tr>';
      for (const row of value.frames) {
        const tr = document.createElement('tr');
        for (const cell of [row.frame, row.max_jump_m, row.joint, row.ratio === null ? '-' : row.ratio]) {
          const td = document.createElement('td');
          td.textContent = String(cell);
          tr.appendChild(td);
        }
        if (row.ratio !== null && row.ratio > 3) tr.classList.add('high');
        table.appendChild(tr);
      }
      const tr = document.createElement('tr');
      tr.innerHTML = '<td>typical</td><td></td><td></td><td></td>';
      tr.children[1].textContent = String(value.typical_jump_m);
      table.appendChild(tr);
    } else if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) {
        const tr = document.createElement('tr');
        const th = document.createElement('th');
        th.textContent = k;
        const td = document.createElement('td');
        td.textContent = typeof v === 'object' ? JSON.stringify(v) : String(v);
        tr.append(th, td);
        table.appendChild(tr);
      }
    } else {
      const tr = document.createElement('tr');
      const td = document.createElement('td');
      td.textContent = JSON.stringify(value);
      tr.appendChild(td);
      table.appendChild(tr);
    }
    box.appendChild(table);
  }
}

function setStatus(message) {
  $('status').textContent = message || '';
}

// ------------------------------------------------------------------------------------------------
// layout: side-by-side slots along X; a condition panel shares the slot of the panel it conditions
function layoutSlots() {
  const shown = state.figures;
  const own = shown.filter((f) => f.panel.role !== 'condition');
  let spread = 0;
  for (const f of own) {
    let lo = Infinity, hi = -Infinity;
    for (let t = 0; t < f.motion.frames; t++) {
      const x = f.motion.positions[t * f.motion.joints * 3];
      lo = Math.min(lo, x); hi = Math.max(hi, x);
    }
    spread = Math.max(spread, hi - lo);
  }
  const spacing = Math.max(MIN_SLOT_SPACING, Math.min(spread + 1.0, 6));
  const host = own.find((f) => f.panel.role === 'generated') || own[0];
  own.forEach((f, i) => {
    f.offset = state.layout === 'side' ? (i - (own.length - 1) / 2) * spacing : 0;
  });
  for (const f of shown) {
    if (f.panel.role === 'condition') f.offset = host ? host.offset : 0;
    f.figure.group.position.x = f.offset;
  }
  overlay.group.position.x = host ? host.offset : 0;
}

function frameFlag(entry, frame) {
  const sem = entry.frame_semantics || {};
  if ((sem.keyframes || []).includes(frame)) return 'keyframe';
  if (inRanges(frame, sem.continuous || [])) return 'controlled';
  return '';
}

function showFrame(frame) {
  const entry = state.current;
  if (!entry) return;
  state.frame = frame;
  const ranges = entry.panel_visible_ranges || {};
  for (const f of state.figures) {
    const visible = !(f.panel.name in ranges) || inRanges(frame, ranges[f.panel.name]);
    f.visibleNow = visible;
    f.figure.group.visible = visible;
    if (visible) f.figure.setFrame(frame);
  }
  updateOverlay(frame);
  if ($('scrub').value !== String(frame)) $('scrub').value = String(frame);
  setText($('frame-counter'), `${frame} / ${state.numFrames - 1}`);
  setText($('frame-flag'), frameFlag(entry, frame));
  const seg = (entry.segments || []).find(([a, b]) => frame >= a && frame < b);
  setText($('segment'), seg ? `segment ${seg[0]}-${seg[1] - 1}: ${seg[2]}` : '');
  for (const li of $('panel-legend').children) {
    const f = state.figures.find((x) => x.panel.name === li.dataset.panel);
    const off = Boolean(f) && !f.visibleNow;
    if (li.classList.contains('off') !== off) li.classList.toggle('off', off);
  }
  if (state.follow) follow();
  drawInset();
}

const followTarget = new THREE.Vector3();
const followTmp = new THREE.Vector3();
const followDelta = new THREE.Vector3();
function follow() {
  const tmp = followTmp;
  let n = 0;
  followTarget.set(0, 0, 0);
  for (const f of state.figures) {
    if (!f.visibleNow || f.panel.role === 'condition') continue;
    f.figure.joint(state.frame, 0, tmp);
    followTarget.x += tmp.x + f.offset;
    followTarget.z += tmp.z;
    n++;
  }
  if (!n) return;
  followTarget.multiplyScalar(1 / n);
  followTarget.y = 0.9;
  const delta = followDelta.subVectors(followTarget, controls.target);
  controls.target.add(delta);
  camera.position.add(delta);
  controls.update();
}

function frameCamera() {
  const own = state.figures.filter((f) => f.panel.role !== 'condition');
  const width = own.length ? Math.max(...own.map((f) => Math.abs(f.offset))) * 2 + 2 : 2;
  const distance = Math.max(4.5, width * 1.3);
  controls.target.set(0, 0.9, 0);
  camera.position.set(0, 2.4, distance);
  controls.update();
}

// ------------------------------------------------------------------------------------------------
async function selectCase(id) {
  const entry = state.cases.find((c) => c.id === id);
  if (!entry) { setStatus(`no case '${id}'`); return; }
  const token = ++state.loadToken;
  state.ready = false;
  document.body.dataset.ready = '0';
  setStatus('');
  for (const li of $('cases').children) li.classList.toggle('selected', li.dataset.id === id);
  if (history.replaceState) history.replaceState(null, '', `#case=${encodeURIComponent(id)}`);
  const panels = state.manifest.panels.filter((p) => entry.files[p.name]);
  let motions;
  try {
    motions = await Promise.all(panels.map((p) => loadMotion(entry.files[p.name])));
  } catch (err) {
    if (token !== state.loadToken) return;
    setStatus(`cannot load case '${id}': ${err.message}`);
    console.error(err);
    return;
  }
  if (token !== state.loadToken) return;   // another case was picked meanwhile
  const ghosts = panels.map((p) => p.role === 'condition');
  // the meshes (a few MB) are fetched only for a G1 motion that has the rotations to place them with
  const g1Wanted = motions.some((m, i) => wantsG1Meshes(m, ghosts[i]) && m.rotations);
  const library = g1Wanted ? await loadG1Library() : null;
  if (token !== state.loadToken) return;
  for (const f of state.figures) { scene.remove(f.figure.group); f.figure.dispose(); }
  state.current = entry;
  const notes = new Set();
  state.figures = panels.map((panel, i) => {
    const figure = new Figure(motions[i], panel.color, ghosts[i]);
    if (wantsG1Meshes(motions[i], ghosts[i])) {
      if (!motions[i].rotations) notes.add(`${panel.label || panel.name}: ${motions[i].rotations_unavailable || 'no rotations'}`);
      else if (!library.available) notes.add(library.reason);
      else figure.attachMeshes(library);
    }
    scene.add(figure.group);
    return { panel, motion: motions[i], figure, offset: 0, visibleNow: true };
  });
  state.meshNote = notes.size ? `G1 meshes unavailable: ${[...notes].join('; ')}` : '';
  setText($('mesh-note'), state.meshNote);
  state.numFrames = Math.max(entry.num_frames, 1);
  $('scrub').max = String(state.numFrames - 1);
  $('caption').textContent = captionOf(entry);
  renderLegend(entry);
  renderMarks(entry);
  renderDiagnostics(entry);
  buildOverlay(entry, state.manifest.overlay_colors);
  layoutSlots();
  frameCamera();
  state.time = 0;
  showFrame(0);
  state.ready = true;
  document.body.dataset.case = id;
  document.body.dataset.ready = '1';   // for scripts and tests: the case is drawn
}

function setPlaying(on) {
  state.playing = on;
  $('play').textContent = on ? 'Pause' : 'Play';
  if (on && state.frame >= state.numFrames - 1 && !state.loop) state.time = 0;
}

function setFrame(frame) {
  const f = Math.max(0, Math.min(state.numFrames - 1, Math.round(frame)));
  state.time = f / state.manifest.fps;
  showFrame(f);
}

let lastTick = null;
function tick(now) {
  if (lastTick !== null) {
    rafIntervals.push(now - lastTick);
    if (rafIntervals.length > STATS_WINDOW) rafIntervals.shift();
  }
  const dt = lastTick === null ? 0 : Math.min((now - lastTick) / 1000, 0.25);
  lastTick = now;
  if (state.playing && state.current) {
    const fps = state.manifest.fps;
    state.time += dt * state.speed;
    let frame = Math.floor(state.time * fps + 1e-6);
    if (frame >= state.numFrames) {
      if (state.loop) {
        state.time %= state.numFrames / fps;
        frame = Math.floor(state.time * fps + 1e-6) % state.numFrames;
      } else {
        frame = state.numFrames - 1;
        setPlaying(false);
      }
    }
    if (frame !== state.frame) showFrame(frame);
  }
  controls.update();
  renderer.render(scene, camera);
  state.renders++;
  requestAnimationFrame(tick);
}

function stats() {
  // frames per second over the last STATS_WINDOW requestAnimationFrame intervals
  const n = rafIntervals.length;
  if (!n) return { samples: 0, fps: null, mean_interval_ms: null, p95_interval_ms: null };
  const sorted = [...rafIntervals].sort((a, b) => a - b);
  const mean = rafIntervals.reduce((a, b) => a + b, 0) / n;
  return { samples: n, fps: 1000 / mean, mean_interval_ms: mean, p95_interval_ms: sorted[Math.floor(0.95 * (n - 1))] };
}

// ------------------------------------------------------------------------------------------------
function bindControls() {
  $('play').addEventListener('click', () => setPlaying(!state.playing));
  $('scrub').addEventListener('input', () => setFrame(Number($('scrub').value)));
  $('speed').addEventListener('change', () => { state.speed = Number($('speed').value); });
  $('loop').addEventListener('change', () => { state.loop = $('loop').checked; });
  $('layout').addEventListener('change', () => {
    state.layout = $('layout').value;
    layoutSlots();
    showFrame(state.frame);
  });
  $('follow').addEventListener('change', () => { state.follow = $('follow').checked; if (state.follow) showFrame(state.frame); });
  $('overlays').addEventListener('change', () => { state.overlays = $('overlays').checked; showFrame(state.frame); });
  const applyVisibility = () => {
    state.skeleton = $('skeleton').checked;
    state.meshes = $('meshes').checked;
    for (const f of state.figures) f.figure.setVisibility(state.skeleton, state.meshes);
  };
  $('skeleton').addEventListener('change', applyVisibility);
  $('meshes').addEventListener('change', applyVisibility);
  $('search').addEventListener('input', applySearch);
  window.addEventListener('keydown', (event) => {
    if (event.target instanceof HTMLInputElement && event.target.type !== 'range' && event.target.type !== 'checkbox') return;
    if (event.code === 'Space') { setPlaying(!state.playing); event.preventDefault(); }
    else if (event.code === 'ArrowRight') { setFrame(state.frame + 1); event.preventDefault(); }
    else if (event.code === 'ArrowLeft') { setFrame(state.frame - 1); event.preventDefault(); }
  });
}

function caseFromHash() {
  const match = /case=([^&]+)/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

async function main() {
  bindControls();
  requestAnimationFrame(tick);
  try {
    state.manifest = await fetchJSON('/api/manifest');
  } catch (err) {
    setStatus(`cannot load the manifest: ${err.message}`);
    console.error(err);
    return;
  }
  state.cases = state.manifest.cases;
  if (state.manifest.title) {
    $('title').textContent = state.manifest.title;
    document.title = `${state.manifest.title} - motiongen viewer`;
  }
  renderCaseList();
  if (!state.cases.length) { setStatus('the manifest lists no cases'); return; }
  const wanted = caseFromHash();
  await selectCase(state.cases.some((c) => c.id === wanted) ? wanted : state.cases[0].id);
}

const resetStats = () => { rafIntervals.length = 0; };
window.viewer = {
  state, selectCase, setFrame, play: () => setPlaying(true), pause: () => setPlaying(false), stats, resetStats,
  softwareWebGL: SOFTWARE_GL, loadG1Library,
};
main();
